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

// scriptApply unpacks the bundle's binary and lets it converge the host (over SSH: the whole bundle).
func scriptApply(restore string) string {
	return `tar -xzf "$dir/bundle.tar.gz" -C "$dir" root` + host.BinaryPath + `
"$dir/root` + host.BinaryPath + `" host apply --bundle "$dir/bundle.tar.gz"` + restoreArg(restore) + `
rm -rf "$dir/bundle.tar.gz" "$dir/root"
`
}

// restoreArg is host apply's --restore, for a backup id (letters, digits, T, Z and a dash: no quoting).
func restoreArg(id string) string {
	if id == "" {
		return ""
	}
	return " --restore " + id
}

// hostScript fetches the binary through a presigned URL, checks it, and has it fetch and apply the
// secret part with the instance role. It holds no secret: a URL to a binary that expires, where
// the secret part is, and the digests.
func hostScript(link, binSHA string, f host.Fetch, restore string) string {
	connect := ""
	if f.Endpoint != "" { // a stand-in: dial it for the bucket's host name, as the SDK does
		connect = " --connect-to ::" + f.Endpoint
	}
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	args := []string{"--from-cos", q(f.Bucket + "/" + f.Key), "--cos-region", q(f.Region), "--sha256", q(f.SHA256)}
	if f.Endpoint != "" {
		args = append(args, "--cos-endpoint", q(f.Endpoint))
	}
	if f.Metadata != "" {
		args = append(args, "--metadata-url", q(f.Metadata))
	}
	return scriptHead + `curl -fsS --retry 3 --max-time 600` + connect + ` -o "$dir/applet.new" ` + q(link) + `
echo "` + binSHA + `  $dir/applet.new" | sha256sum -c --quiet -
chmod 700 "$dir/applet.new"
"$dir/applet.new" host apply ` + strings.Join(args, " ") + restoreArg(restore) + `
rm -f "$dir/applet.new"
`
}

// sshSession opens an SSH session to the instance, and the quoting that runs a script as root there.
func (d *Delivery) sshSession(in provision.Instance) (*host.SSH, func(string) string) {
	o := d.o.SSH
	sudo := ""
	if o.User != "root" {
		sudo = "sudo -n "
	}
	s := &host.SSH{Addr: net.JoinHostPort(in.PublicIP, strconv.Itoa(o.Port)), User: o.User, KeyFile: o.KeyFile, KnownHosts: o.KnownHosts}
	return s, func(script string) string { return sudo + "sh -c '" + strings.ReplaceAll(script, "'", `'\''`) + "'" }
}

// Drain waits on the instance, at most within, until its backends serve no request (it is out of
// the load balancer), and returns the host's word on it.
func (d *Delivery) Drain(ctx context.Context, in provision.Instance, within time.Duration) (string, error) {
	script := host.Script(`"$root` + host.BinaryPath + `" host drain --within ` + within.String() + "\n")
	if d.o.SSH.User != "" {
		s, quote := d.sshSession(in)
		defer s.Close()
		out, err := s.Run(ctx, quote(script), nil)
		if err != nil {
			return "", fmt.Errorf("draining %s over SSH: %w\n%s", in.ID, err, host.Tail(out, 5))
		}
		return strings.TrimSpace(out), nil
	}
	res, err := d.o.Client.RunCommand(ctx, in.ID, script, within+time.Minute)
	if err != nil {
		return "", fmt.Errorf("draining %s: %w", in.ID, err)
	}
	if res.Status != "SUCCESS" || res.ExitCode != 0 {
		return "", fmt.Errorf("draining %s ended %s (exit %d):\n%s", in.ID, res.Status, res.ExitCode, host.Tail(res.Output, 5))
	}
	return strings.TrimSpace(res.Output), nil
}

// applyOverSSH sends the bundle on the SSH session's standard input, then applies it.
func (d *Delivery) applyOverSSH(ctx context.Context, in provision.Instance, bundle, restore string) (string, error) {
	s, quote := d.sshSession(in)
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
	if out, err := s.Run(ctx, quote(scriptHead+`cat > "$dir/bundle.tar.gz"`), f); err != nil {
		return out, fmt.Errorf("sending the bundle: %w", err)
	}
	return s.Run(ctx, quote(scriptHead+scriptApply(restore)), nil)
}
