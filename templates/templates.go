// Package templates renders what applet installs on a host: the nginx site, the systemd units and the
// cloud-init. The templates are embedded; a directory given to New overrides any of them by name, so
// an operator can adjust one file without rebuilding applet. Golden files in testdata pin the output.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

//go:embed files/*.tmpl
var files embed.FS

// Names of the templates.
const (
	NginxSite     = "nginx-site.conf"
	NginxMain     = "nginx.conf"
	ServiceUnit   = "applet@.service"
	RenewService  = "applet-renew.service"
	RenewTimer    = "applet-renew.timer"
	BackupService = "applet-backup.service"
	BackupTimer   = "applet-backup.timer"
	CloudInit     = "cloud-init.yaml"
)

// Names lists every template.
var Names = []string{NginxMain, NginxSite, ServiceUnit, RenewService, RenewTimer, BackupService, BackupTimer, CloudInit}

// Site is the data of the nginx site.
type Site struct {
	Deployment, Domain          string
	HTTPListen, HTTPSListen     []string // listen parameters, e.g. "80", "[::]:80"
	HTTPSPort                   int      // for the redirect
	CertFile, KeyFile, Webroot  string
	Album, Game, Session, Video string // upstream host:port
	UploadMaxMB                 int    // album limit + 1 MiB of multipart overhead
	TooLargeJSON                string // the album's answer to a body over the limit
	// BodyTimeout is the longest a client may pause while sending a body (serve.body_grace), e.g. "10s".
	BodyTimeout string
	// UploadsPerAddr and CommentsPerAddr cap one address's connections on those routes.
	UploadsPerAddr, CommentsPerAddr int
	// LBRanges, when set, puts the site behind a load balancer that ends TLS: plain HTTP from these
	// blocks only, their forwarding headers believed, /healthz for the load balancer's check.
	LBRanges []string
}

// Main is the data of nginx.conf.
type Main struct {
	Deployment                      string
	WorkerConnections, RlimitNofile int
}

// NginxMainFor sizes nginx for backends whose budgets total backendConns connections: each proxied
// connection holds two of nginx's.
func NginxMainFor(deployment string, backendConns int) Main {
	wc := max(4096, 2*backendConns)
	return Main{Deployment: deployment, WorkerConnections: wc, RlimitNofile: 2 * wc}
}

// Unit is the data of the systemd units.
type Unit struct {
	Deployment, User, Binary, ConfigFile, DataDir string
	After                                         []string // units to start after (redis-server.service)
	StopTimeout                                   string   // e.g. "30s": serve's shutdown timeout plus margin
	LimitNOFILE                                   int      // open files a backend may hold
}

// Init is the data of the cloud-init.
type Init struct {
	Deployment, User, DataDir string
}

// Set renders templates, preferring files in an override directory.
type Set struct{ dir string }

// New returns a Set; dir (may be empty) holds overrides named like the templates plus ".tmpl".
func New(dir string) *Set { return &Set{dir: dir} }

// Source returns a template's text and where it came from.
func (s *Set) Source(name string) (string, string, error) {
	if s.dir != "" {
		p := filepath.Join(s.dir, name+".tmpl")
		b, err := os.ReadFile(p)
		if err == nil {
			return string(b), p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", err
		}
	}
	b, err := files.ReadFile("files/" + name + ".tmpl")
	if err != nil {
		return "", "", fmt.Errorf("templates: no template %q", name)
	}
	return string(b), "embedded " + name, nil
}

// Render executes a template; a missing field is an error, not an empty string.
func (s *Set) Render(name string, data any) ([]byte, error) {
	src, from, err := s.Source(name)
	if err != nil {
		return nil, err
	}
	t, err := template.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("templates: parsing %s: %w", from, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("templates: rendering %s: %w", from, err)
	}
	return b.Bytes(), nil
}

// NginxString quotes s for a single-quoted nginx string.
func NginxString(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}
