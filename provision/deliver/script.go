package deliver

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/host"
)

var scriptHead = host.Script(`dir="$root/var/lib/applet/deploy"
umask 077
mkdir -p "$dir"
`)

// scriptApply unpacks the bundle's binary and lets it converge the host.
const scriptApply = `tar -xzf "$dir/bundle.tar.gz" -C "$dir" root` + host.BinaryPath + `
"$dir/root` + host.BinaryPath + `" host apply --bundle "$dir/bundle.tar.gz"
rm -rf "$dir/bundle.tar.gz" "$dir/root"
`

// hostScript fetches and applies the bundle. It holds no secret: only a presigned URL that expires.
func hostScript(link, cosEndpoint string) string {
	connect := ""
	if cosEndpoint != "" { // a stand-in: dial it for the bucket's host name, as the SDK does
		connect = " --connect-to ::" + cosEndpoint
	}
	return scriptHead + `curl -fsS --retry 3 --max-time 600` + connect + ` -o "$dir/bundle.tar.gz" '` + strings.ReplaceAll(link, "'", "%27") + `'
` + scriptApply
}

// applyOverSSH sends the bundle on the SSH session's standard input, then applies it.
func (d *Delivery) applyOverSSH(ctx context.Context, in provision.Instance, bundle string) (string, error) {
	o := d.o.SSH
	sudo := ""
	if o.User != "root" {
		sudo = "sudo -n "
	}
	s := &host.SSH{Addr: net.JoinHostPort(in.PublicIP, strconv.Itoa(o.Port)), User: o.User, KeyFile: o.KeyFile, KnownHosts: o.KnownHosts}
	defer s.Close()
	// The instance may still be starting sshd right after it runs.
	var err error
	for deadline := time.Now().Add(d.o.Timeout); ; {
		if _, err = s.Run(ctx, "true", nil); err == nil || time.Now().After(deadline) || strings.Contains(err.Error(), "host key") {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		return "", err
	}
	f, err := os.Open(bundle)
	if err != nil {
		return "", err
	}
	defer f.Close()
	quote := func(script string) string { return sudo + "sh -c '" + strings.ReplaceAll(script, "'", `'\''`) + "'" }
	if out, err := s.Run(ctx, quote(scriptHead+`cat > "$dir/bundle.tar.gz"`), f); err != nil {
		return out, fmt.Errorf("sending the bundle: %w", err)
	}
	return s.Run(ctx, quote(scriptHead+scriptApply), nil)
}
