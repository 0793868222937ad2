package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qcloud-applet/applet/internal/atomicfile"
)

// Options say how to act on the host.
type Options struct {
	Root        string   // "/" on a host; a directory when converging a tree (tests, images)
	Systemd     bool     // run systemctl (reload units, restart backends, enable the timer)
	NginxTest   []string // default: nginx -t
	NginxReload []string // default: systemctl reload nginx (or nginx -s reload without systemd)
	// Run runs a command; default exec with the combined output.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// RunWith runs a command with extra environment and standard input; default exec.
	RunWith func(ctx context.Context, env []string, stdin io.Reader, name string, args ...string) ([]byte, error)
	// MariaDBAdmin is the command that administers the host's MariaDB (default: mariadb as root over its socket).
	MariaDBAdmin []string
	// ReadyTimeout bounds the wait for a restarted backend's readyz.
	ReadyTimeout time.Duration
	Log          io.Writer
	// BinarySource is the applet binary to install when the bundle leaves it out (its secret part,
	// fetched by the binary that runs): the running executable.
	BinarySource string
	// Restore is a backup to restore, with the binary just installed, before the backends start (a
	// new instance of a deployment that has backups).
	Restore string
}

func (o *Options) defaults() {
	if o.Root == "" {
		o.Root = "/"
	}
	if len(o.NginxTest) == 0 {
		o.NginxTest = []string{"nginx", "-t"}
	}
	if len(o.NginxReload) == 0 {
		o.NginxReload = []string{"nginx", "-s", "reload"}
		if o.Systemd {
			o.NginxReload = []string{"systemctl", "reload", "nginx"}
		}
	}
	if o.Run == nil {
		o.Run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
			return exec.CommandContext(ctx, name, args...).CombinedOutput()
		}
	}
	if o.RunWith == nil {
		o.RunWith = func(ctx context.Context, env []string, stdin io.Reader, name string, args ...string) ([]byte, error) {
			c := exec.CommandContext(ctx, name, args...)
			c.Env, c.Stdin = append(os.Environ(), env...), stdin
			return c.CombinedOutput()
		}
	}
	if len(o.MariaDBAdmin) == 0 {
		o.MariaDBAdmin = []string{"mariadb", "--no-defaults"}
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

func (o *Options) path(p string) string { return filepath.Join(o.Root, filepath.FromSlash(p)) }

// Report is what an apply changed and did.
type Report struct {
	Changed []string // host paths written
	Actions []string // commands run because of them
}

func (r *Report) String() string {
	if len(r.Changed) == 0 && len(r.Actions) == 0 {
		return "host: nothing to change"
	}
	return "host: changed " + strings.Join(r.Changed, ", ") + "; did " + strings.Join(r.Actions, ", ")
}

func (o *Options) run(ctx context.Context, rep *Report, cmd []string) error {
	fmt.Fprintf(o.Log, "host: running %s\n", strings.Join(cmd, " "))
	out, err := o.Run(ctx, cmd[0], cmd[1:]...)
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd, " "), err, bytes.TrimSpace(out))
	}
	rep.Actions = append(rep.Actions, strings.Join(cmd, " "))
	return nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Apply converges the host to the extracted bundle in dir.
func Apply(ctx context.Context, dir string, m *Manifest, o Options) (*Report, error) {
	o.defaults()
	rep := &Report{}
	realRoot := o.Root == "/"
	if realRoot {
		if err := ensurePackages(ctx, &o, rep, m.Packages); err != nil {
			return rep, err
		}
		if err := ensureUser(ctx, &o, rep, m.User); err != nil {
			return rep, err
		}
	}
	if m.Database != nil {
		if o.Systemd {
			if err := o.run(ctx, rep, []string{"systemctl", "enable", "--now", "mariadb"}); err != nil {
				return rep, err
			}
		}
		if err := ensureDatabase(ctx, &o, rep, m.Database); err != nil {
			return rep, err
		}
	}
	if m.Redis != nil {
		if o.Systemd {
			if err := o.run(ctx, rep, []string{"systemctl", "enable", "--now", "redis-server"}); err != nil {
				return rep, err
			}
		}
		if err := ensureRedis(ctx, &o, rep, m.Redis); err != nil {
			return rep, err
		}
	}
	if err := backupBeforeUpgrade(ctx, &o, rep, m); err != nil {
		return rep, err
	}
	keepTLS := hostCertIsNewer(&o, dir, m)
	triggers := map[string]bool{}
	var nginxOld []restore
	for _, f := range m.Files {
		target := o.path(f.Path)
		cur, err := os.ReadFile(target)
		exists := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rep, err
		}
		if exists && (f.Keep || (keepTLS && filepath.Dir(f.Path) == m.TLSDir && (strings.HasSuffix(f.Path, "/fullchain.pem") || strings.HasSuffix(f.Path, "/privkey.pem")))) {
			continue
		}
		mode := fs.FileMode(f.Mode)
		if exists && sha(cur) == f.SHA256 {
			if st, err := os.Stat(target); err == nil && st.Mode().Perm() == mode.Perm() {
				continue
			}
		}
		src := Source(dir, f.Path)
		if _, err := os.Stat(src); err != nil && f.Path == m.Binary && o.BinarySource != "" {
			src = o.BinarySource // the bundle's secret part leaves out the binary, which is running now
		}
		content, err := os.ReadFile(src)
		if err != nil {
			return rep, fmt.Errorf("bundle lacks %s: %w", f.Path, err)
		}
		if sha(content) != f.SHA256 {
			return rep, fmt.Errorf("bundle's %s does not match its manifest", f.Path)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return rep, err
		}
		if f.Path == m.Binary && exists && sha(cur) != f.SHA256 {
			// The running binary stays as .prev for `applet provision rollback`.
			if err := atomicfile.Write(target+".prev", cur, 0o755); err != nil {
				return rep, err
			}
		}
		if f.Trigger == TriggerNginx {
			nginxOld = append(nginxOld, saved(target, cur, exists))
		}
		if err := atomicfile.Write(target, content, mode); err != nil {
			return rep, err
		}
		if realRoot && f.Owner != "" {
			if err := chown(target, f.Owner); err != nil {
				return rep, err
			}
		}
		rep.Changed = append(rep.Changed, f.Path)
		if f.Trigger != "" {
			triggers[f.Trigger] = true
		}
	}
	for _, d := range []string{m.Webroot} {
		if d != "" {
			if err := os.MkdirAll(o.path(d), 0o755); err != nil {
				return rep, err
			}
		}
	}
	if err := saveManifest(&o, m); err != nil {
		return rep, err
	}

	if triggers[TriggerNginx] {
		if err := o.run(ctx, rep, o.NginxTest); err != nil {
			// Put the previous site back so a reload elsewhere does not pick up a broken one.
			for _, r := range nginxOld {
				r.undo()
			}
			return rep, fmt.Errorf("the new nginx configuration was rejected, the previous one is back: %w", err)
		}
		if err := o.run(ctx, rep, o.NginxReload); err != nil {
			return rep, err
		}
	}
	if o.Systemd && triggers[TriggerUnits] {
		if err := o.run(ctx, rep, []string{"systemctl", "daemon-reload"}); err != nil {
			return rep, err
		}
	}
	if o.Systemd && triggers[TriggerTimer] {
		var timers []string
		if !m.BehindLB {
			timers = append(timers, "applet-renew.timer")
		}
		if m.Backup {
			timers = append(timers, "applet-backup.timer")
		}
		if len(timers) > 0 {
			if err := o.run(ctx, rep, append([]string{"systemctl", "enable", "--now"}, timers...)); err != nil {
				return rep, err
			}
		}
	}
	if o.Restore != "" {
		// Apply stops the backends and starts them below, once: the restore is told not to.
		if o.Systemd {
			if err := stopBackends(ctx, &o, rep, m); err != nil {
				return rep, err
			}
		}
		cmd := []string{o.path(m.Binary), "restore", "--from", o.Restore, "--force", "--config", o.path(ConfigPath)}
		fmt.Fprintf(o.Log, "host: running %s\n", strings.Join(cmd, " "))
		if out, err := o.RunWith(ctx, []string{EnvNoSystemd + "=1"}, nil, cmd[0], cmd[1:]...); err != nil {
			return rep, fmt.Errorf("restoring backup %s: %w\n%s", o.Restore, err, Tail(string(out), 20))
		}
		rep.Actions = append(rep.Actions, "restore "+o.Restore)
		if realRoot { // restored as root: the backends' user must own its data
			if err := o.run(ctx, rep, []string{"chown", "-R", m.User + ":" + m.User, DataDir}); err != nil {
				return rep, err
			}
		}
		triggers[TriggerBackend] = true
	}
	if o.Systemd && (triggers[TriggerBackend] || triggers[TriggerUnits]) {
		if err := restartBackends(ctx, &o, rep, m); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// restore is a file as it was before a change, mode and owner included: a private key put back
// must be as private as it was.
type restore struct {
	path     string
	data     []byte
	exists   bool
	mode     fs.FileMode
	uid, gid int
}

func saved(path string, data []byte, exists bool) restore {
	r := restore{path: path, data: data, exists: exists, mode: 0o600, uid: -1, gid: -1}
	if st, err := os.Stat(path); err == nil {
		r.mode = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			r.uid, r.gid = int(sys.Uid), int(sys.Gid)
		}
	}
	return r
}

func (r restore) undo() {
	if !r.exists {
		os.Remove(r.path)
		return
	}
	atomicfile.Write(r.path, r.data, r.mode)
	if r.uid >= 0 {
		os.Lchown(r.path, r.uid, r.gid)
	}
}

// hostCertIsNewer reports whether the host's certificate outlives the bundle's and covers the names:
// then a certificate renewed on the host is kept.
func hostCertIsNewer(o *Options, dir string, m *Manifest) bool {
	if m.TLSDir == "" {
		return false
	}
	p := filepath.ToSlash(filepath.Join(m.TLSDir, "fullchain.pem"))
	host, err := leaf(o.path(p))
	if err != nil {
		return false
	}
	bundle, err := leaf(Source(dir, p))
	if err != nil {
		return true // the bundle brings no certificate (or half a pair): keep the host's pair whole
	}
	for _, n := range m.Names {
		if host.VerifyHostname(n) != nil {
			return false
		}
	}
	return host.NotAfter.After(bundle.NotAfter)
}

func leaf(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM")
	}
	return x509.ParseCertificate(block.Bytes)
}

func saveManifest(o *Options, m *Manifest) error {
	b, _ := json.MarshalIndent(m, "", "  ")
	p := o.path(ManifestPath)
	if cur, err := os.ReadFile(p); err == nil && bytes.Equal(cur, b) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(p, b, 0o600)
}

// LoadManifest reads the manifest an apply left on the host.
func LoadManifest(root string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(root, ManifestPath))
	if err != nil {
		return nil, fmt.Errorf("reading %s (has `applet host apply` run here?): %w", ManifestPath, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading %s: %w", ManifestPath, err)
	}
	return &m, nil
}

func restartBackends(ctx context.Context, o *Options, rep *Report, m *Manifest) error {
	// One at a time, each ready before the next: the game's rounds finish and its clients get a close
	// frame (serve's graceful stop) while the other backends keep answering.
	for i, app := range m.Apps {
		unit := "applet@" + app
		if err := o.run(ctx, rep, []string{"systemctl", "enable", unit}); err != nil {
			return err
		}
		if err := o.run(ctx, rep, []string{"systemctl", "restart", unit}); err != nil {
			return err
		}
		if i < len(m.Health) {
			if err := waitReady(ctx, m.Health[i], o.ReadyTimeout); err != nil {
				return fmt.Errorf("%s did not become ready after the restart: %w (see journalctl -u %s)", unit, err, unit)
			}
		}
	}
	return nil
}

func waitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %d", url, resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return last
}

func ensurePackages(ctx context.Context, o *Options, rep *Report, pkgs []string) error {
	var missing []string
	for _, p := range pkgs {
		out, err := o.Run(ctx, "dpkg-query", "-W", "-f=${Status}", p)
		if err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := o.run(ctx, rep, []string{"apt-get", "update"}); err != nil {
		return err
	}
	return o.run(ctx, rep, append([]string{"apt-get", "install", "-y", "--no-install-recommends"}, missing...))
}

func ensureUser(ctx context.Context, o *Options, rep *Report, name string) error {
	if name == "" {
		return nil
	}
	if _, err := user.Lookup(name); err == nil {
		return nil
	}
	return o.run(ctx, rep, []string{"useradd", "--system", "--home-dir", "/var/lib/applet", "--shell", "/usr/sbin/nologin", name})
}

func chown(path, owner string) error {
	u, err := user.Lookup(owner)
	if err != nil {
		return fmt.Errorf("owner of %s: %w", path, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

// Rollback puts the previous binary back and restarts the backends; running it again rolls forward.
func Rollback(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	m, err := LoadManifest(o.Root)
	if err != nil {
		return nil, err
	}
	bin := o.path(m.Binary)
	prev, err := os.ReadFile(bin + ".prev")
	if err != nil {
		return nil, fmt.Errorf("no previous binary to roll back to (%s.prev): %w", m.Binary, err)
	}
	cur, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	if err := atomicfile.Write(bin+".prev", cur, 0o755); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(bin, prev, 0o755); err != nil {
		return nil, err
	}
	rep.Changed = append(rep.Changed, m.Binary)
	if o.Systemd {
		if err := restartBackends(ctx, &o, rep, m); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// ensureDatabase makes the database and its user when the backends' own login does not work yet. The
// password travels on standard input and in the environment, never in an argument (ps shows those).
func ensureDatabase(ctx context.Context, o *Options, rep *Report, db *Database) error {
	if strings.ContainsAny(db.Name+db.User, "`'\\") {
		return fmt.Errorf("database %q or user %q has a quote in it", db.Name, db.User)
	}
	login := []string{"--no-defaults", "-h", db.Host, "-P", strconv.Itoa(db.Port), "-u", db.User, "-D", db.Name, "-e", "SELECT 1"}
	if _, err := o.RunWith(ctx, []string{"MYSQL_PWD=" + db.Password}, nil, "mariadb", login...); err == nil {
		return nil
	}
	pw := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(db.Password)
	var sql strings.Builder
	fmt.Fprintf(&sql, "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n", db.Name)
	for _, h := range []string{"localhost", "127.0.0.1"} {
		fmt.Fprintf(&sql, "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s';\n", db.User, h, pw)
		fmt.Fprintf(&sql, "ALTER USER '%s'@'%s' IDENTIFIED BY '%s';\n", db.User, h, pw)
		fmt.Fprintf(&sql, "GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%s';\n", db.Name, db.User, h)
	}
	if out, err := o.RunWith(ctx, nil, strings.NewReader(sql.String()), o.MariaDBAdmin[0], o.MariaDBAdmin[1:]...); err != nil {
		return fmt.Errorf("creating database %s and user %s: %w\n%s", db.Name, db.User, err, bytes.TrimSpace(out))
	}
	if out, err := o.RunWith(ctx, []string{"MYSQL_PWD=" + db.Password}, nil, "mariadb", login...); err != nil {
		return fmt.Errorf("user %s still cannot log in to %s: %w\n%s", db.User, db.Name, err, bytes.TrimSpace(out))
	}
	rep.Actions = append(rep.Actions, "mariadb: made database "+db.Name+" and user "+db.User)
	return nil
}

// ensureRedis sets the host's Redis password when the backends' login does not work yet; the password
// goes through the environment and standard input, and CONFIG REWRITE keeps it across restarts.
func ensureRedis(ctx context.Context, o *Options, rep *Report, r *Redis) error {
	if r.Password == "" {
		return nil
	}
	h, p, err := net.SplitHostPort(r.Addr)
	if err != nil {
		return fmt.Errorf("redis address %q: %w", r.Addr, err)
	}
	cli := []string{"-h", h, "-p", p}
	out, err := o.RunWith(ctx, []string{"REDISCLI_AUTH=" + r.Password}, nil, "redis-cli", append(cli, "PING")...)
	if err == nil && strings.TrimSpace(string(out)) == "PONG" {
		return nil
	}
	script := "CONFIG SET requirepass \"" + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(r.Password) + "\"\nCONFIG REWRITE\n"
	if out, err := o.RunWith(ctx, nil, strings.NewReader(script), "redis-cli", cli...); err != nil || strings.Contains(string(out), "ERR") {
		return fmt.Errorf("setting the Redis password: %v\n%s", err, bytes.TrimSpace(out))
	}
	rep.Actions = append(rep.Actions, "redis: set the password")
	return nil
}

// WhileStopped runs fn with the host's backends stopped (a restore writes their data), and starts
// them again after, whatever fn returned. Off a systemd host it just runs fn.
func WhileStopped(ctx context.Context, o Options, fn func() error) error {
	o.defaults()
	m, err := LoadManifest(o.Root)
	if !o.Systemd || err != nil || len(m.Apps) == 0 {
		return fn()
	}
	rep := &Report{}
	if err := stopBackends(ctx, &o, rep, m); err != nil {
		return err
	}
	ferr := fn()
	// Started even when fn failed: a refused or failed restore leaves the old data, still served.
	return errors.Join(ferr, restartBackends(context.WithoutCancel(ctx), &o, rep, m))
}

func stopBackends(ctx context.Context, o *Options, rep *Report, m *Manifest) error {
	for _, app := range m.Apps {
		if err := o.run(ctx, rep, []string{"systemctl", "stop", "applet@" + app}); err != nil {
			return err
		}
	}
	return nil
}

// backupBeforeUpgrade backs the data up with the binary that is about to be replaced, while it still
// runs the backends: an upgrade whose migrations go wrong can be rolled back with the data as it was.
// A binary too old to know `backup` (exit 2) is let through with a note; any other failure stops
// the upgrade.
func backupBeforeUpgrade(ctx context.Context, o *Options, rep *Report, m *Manifest) error {
	if !m.Backup {
		return nil
	}
	bin := o.path(m.Binary)
	cur, err := os.ReadFile(bin)
	if err != nil {
		return nil // a first install: nothing to back up yet
	}
	for _, f := range m.Files {
		if f.Path == m.Binary && sha(cur) == f.SHA256 {
			return nil // not an upgrade
		}
	}
	cmd := []string{bin, "backup", "--config", o.path(ConfigPath)}
	fmt.Fprintf(o.Log, "host: backing up before the upgrade: %s\n", strings.Join(cmd, " "))
	out, err := o.Run(ctx, cmd[0], cmd[1:]...)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 2:
		fmt.Fprintf(o.Log, "host: the installed applet cannot back up (too old); upgrading without a backup\n")
		return nil
	case err != nil:
		return fmt.Errorf("backing up before the upgrade failed, nothing was changed: %w\n%s", err, Tail(string(out), 10))
	}
	rep.Actions = append(rep.Actions, "backup before the upgrade")
	return nil
}
