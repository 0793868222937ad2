// Package host converges a machine to what a bundle describes: the applet binary, its config (secrets
// 0600), the certificate, the nginx site and the systemd units. The operator's machine builds the
// bundle; `applet host apply` runs on the host. Applying twice changes nothing the second time: files
// are compared by content, nginx is reloaded only when its files changed and `nginx -t` passed, and the
// backends are restarted one at a time only when the binary or the config changed.
package host

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// What a change to a file sets off.
const (
	TriggerNginx   = "nginx"   // nginx -t, then reload
	TriggerUnits   = "units"   // systemctl daemon-reload
	TriggerBackend = "backend" // restart the backends one by one
	TriggerTimer   = "timer"   // enable the renewal timer
)

// File is one file the host must have.
type File struct {
	Path    string `json:"path"` // absolute, on the host
	Mode    uint32 `json:"mode"`
	Owner   string `json:"owner,omitempty"` // user (and group of the same name); empty: root
	SHA256  string `json:"sha256"`
	Trigger string `json:"trigger,omitempty"`
	// Keep means: write only when missing (a certificate renewed on the host is newer than the bundle's).
	Keep bool `json:"keep,omitempty"`
}

// Manifest describes a bundle and, installed on the host, what renewal and rollback need.
type Manifest struct {
	Deployment string    `json:"deployment"`
	Domain     string    `json:"domain"`
	Names      []string  `json:"names"`              // the certificate's names
	Apps       []string  `json:"apps"`               // systemd instances applet@<app>
	Health     []string  `json:"health"`             // loopback readyz URLs, one per app, in Apps order
	User       string    `json:"user"`               // the service user
	Binary     string    `json:"binary"`             // where the applet binary goes
	TLSDir     string    `json:"tls_dir"`            // fullchain.pem, privkey.pem and the ACME account
	Webroot    string    `json:"webroot"`            // served at /.well-known/acme-challenge/
	ACMEDir    string    `json:"acme_dir"`           // ACME directory URL
	ACMERoots  string    `json:"acme_roots"`         // PEM file of extra roots for the ACME server (private CAs)
	Packages   []string  `json:"packages"`           // Debian packages to install when missing (self-hosted Redis, MariaDB)
	Database   *Database `json:"database,omitempty"` // a MariaDB on the host to set up
	Redis      *Redis    `json:"redis,omitempty"`    // a Redis on the host to set up
	// Backup: the host backs up on a timer, and before every upgrade with the binary it replaces.
	Backup bool `json:"backup,omitempty"`
	// BehindLB: a load balancer ends TLS and provision renews its certificate: no renewal timer here.
	BehindLB bool   `json:"behind_lb,omitempty"`
	Files    []File `json:"files"`
}

// Redis is the host's Redis: its password is set when the config asks for one.
type Redis struct {
	Addr, Password string
}

// Database is the MariaDB database and user the backends log in with, made on the host when missing.
type Database struct {
	Name, User, Password string
	Host                 string // 127.0.0.1
	Port                 int
}

// ManifestPath is where apply keeps the manifest on the host, for renew and rollback.
const ManifestPath = "/etc/applet/host.json"

// Builder assembles a bundle.
type Builder struct {
	m     Manifest
	data  map[string][]byte // by host path
	files map[string]string // by host path: a file on disk (the binary)
}

// NewBuilder starts a bundle.
func NewBuilder(m Manifest) *Builder {
	m.Files = nil
	return &Builder{m: m, data: map[string][]byte{}, files: map[string]string{}}
}

// Add puts content at a host path.
func (b *Builder) Add(f File, content []byte) {
	sum := sha256.Sum256(content)
	f.SHA256 = hex.EncodeToString(sum[:])
	b.m.Files = append(b.m.Files, f)
	b.data[f.Path] = content
}

// AddFile puts a local file (e.g. the binary) at a host path.
func (b *Builder) AddFile(f File, local string) error {
	fh, err := os.Open(local)
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return err
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	b.m.Files = append(b.m.Files, f)
	b.files[f.Path] = local
	return nil
}

// Digest identifies the bundle's content: equal digests mean equal hosts.
func (b *Builder) Digest() string {
	m := b.m
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	j, _ := json.Marshal(m)
	sum := sha256.Sum256(j)
	return hex.EncodeToString(sum[:])
}

// Manifest returns the manifest as built.
func (b *Builder) Manifest() Manifest { return b.m }

func member(hostPath string) string { return "root/" + strings.TrimPrefix(path.Clean(hostPath), "/") }

// Write writes the bundle as a gzipped tar: manifest.json, then root/<host path> for every file.
func (b *Builder) Write(w io.Writer) error { return b.write(w, true) }

// WriteSecret writes the bundle without the binary: what travels privately. The binary is not
// secret and travels apart; the manifest still names it with its digest.
func (b *Builder) WriteSecret(w io.Writer) error { return b.write(w, false) }

// Binary is the local file of the bundle's binary and its digest.
func (b *Builder) Binary() (path, sha string) {
	for _, f := range b.m.Files {
		if f.Path == b.m.Binary {
			return b.files[f.Path], f.SHA256
		}
	}
	return "", ""
}

func (b *Builder) write(w io.Writer, withBinary bool) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	j, _ := json.MarshalIndent(b.m, "", "  ")
	put := func(name string, mode int64, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: size, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := put("manifest.json", 0o600, int64(len(j)), strings.NewReader(string(j))); err != nil {
		return err
	}
	for _, f := range b.m.Files {
		if d, ok := b.data[f.Path]; ok {
			if err := put(member(f.Path), 0o600, int64(len(d)), strings.NewReader(string(d))); err != nil {
				return err
			}
			continue
		}
		if !withBinary && f.Path == b.m.Binary {
			continue
		}
		fh, err := os.Open(b.files[f.Path])
		if err != nil {
			return err
		}
		st, _ := fh.Stat()
		err = put(member(f.Path), 0o700, st.Size(), fh)
		fh.Close()
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// Extract unpacks a bundle into dir (private) and returns its manifest.
func Extract(r io.Reader, dir string) (*Manifest, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	tr := tar.NewReader(gz)
	var m *Manifest
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading bundle: %w", err)
		}
		name := path.Clean(h.Name)
		if strings.HasPrefix(name, "..") || path.IsAbs(name) {
			return nil, fmt.Errorf("reading bundle: unsafe member %q", h.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(f, tr)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading bundle: %w", err)
		}
		if name == "manifest.json" {
			b, _ := os.ReadFile(target)
			m = &Manifest{}
			if err := json.Unmarshal(b, m); err != nil {
				return nil, fmt.Errorf("reading bundle manifest: %w", err)
			}
		}
	}
	if m == nil {
		return nil, errors.New("reading bundle: no manifest.json")
	}
	return m, nil
}

// Source is where an extracted bundle keeps a file's content.
func Source(dir, hostPath string) string {
	return filepath.Join(dir, filepath.FromSlash(member(hostPath)))
}
