package host

import (
	"io"
	"net"
	"os"
	"strings"
)

// Where things live on the host. provision writes them there and the host commands read them.
const (
	BinaryPath = "/usr/local/bin/applet"
	ConfigPath = "/etc/applet/applet.yaml"
	// BackupKeyPath is the backups' encryption key on the host (backup.encryption_key_file).
	BackupKeyPath = "/etc/applet/backup.key"
	TLSDir        = "/etc/applet/tls"
	DataDir       = "/var/lib/applet"
	Webroot       = "/var/lib/applet/acme"
	User          = "applet"
)

// OpenFiles is each backend service's open-file limit (LimitNOFILE); serve shares it out.
const OpenFiles = 65536

// Apps are the backends the host runs, one service each.
var Apps = []string{"album", "game", "session", "video"}

// Environment of the host commands, for machines (and tests) that are not a plain systemd host.
const (
	EnvRoot        = "APPLET_HOST_ROOT"          // converge this directory instead of /
	EnvNoSystemd   = "APPLET_HOST_NO_SYSTEMD"    // "1": write units but run no systemctl
	EnvNginxTest   = "APPLET_HOST_NGINX_TEST"    // command that tests nginx's configuration
	EnvNginxReload = "APPLET_HOST_NGINX_RELOAD"  // command that reloads nginx
	EnvMariaDB     = "APPLET_HOST_MARIADB_ADMIN" // command that administers the host's MariaDB
)

// Script is the head of a shell script run on the host: it honours EnvRoot, so a test converges a
// directory where a host converges /.
func Script(lines string) string {
	return "set -eu\nroot=\"${" + EnvRoot + ":-}\"\n" + lines
}

// OptionsFromEnv says how to act on this machine: root is the --root flag ("" for the environment's,
// or /), and systemd runs only on a real systemd host converging / unless noSystemd.
func OptionsFromEnv(getenv func(string) string, root string, noSystemd bool, log io.Writer) Options {
	if root == "" {
		root = getenv(EnvRoot)
	}
	if root == "" {
		root = "/"
	}
	_, err := os.Stat("/run/systemd/system")
	systemd := err == nil && root == "/" && !noSystemd && getenv(EnvNoSystemd) != "1"
	o := Options{Root: root, Systemd: systemd, Log: log}
	if v := getenv(EnvNginxTest); v != "" {
		o.NginxTest = strings.Fields(v)
	}
	if v := getenv(EnvNginxReload); v != "" {
		o.NginxReload = strings.Fields(v)
	}
	if v := getenv(EnvMariaDB); v != "" {
		o.MariaDBAdmin = strings.Fields(v)
	}
	return o
}

// Upstream is where a backend listening on listen is reached on the host: loopback, same port.
func Upstream(listen string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	return "127.0.0.1:" + port
}

// Tail is the last n lines of a host's output s.
func Tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
