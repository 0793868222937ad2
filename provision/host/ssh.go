package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSH runs commands on a host over SSH, for deployments that open port 22 instead of using the command
// service. The host key is pinned on first use in a known-hosts file and checked every time after.
type SSH struct {
	Addr       string // host:port
	User       string
	KeyFile    string // private key (PEM or OpenSSH)
	KnownHosts string // file that pins the host key
	Timeout    time.Duration

	mu     sync.Mutex
	client *ssh.Client
}

func (s *SSH) dial(ctx context.Context) (*ssh.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	pem, err := os.ReadFile(s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("ssh: reading the key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("ssh: %s: %w (a key without a passphrase is needed)", s.KeyFile, err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	cfg := &ssh.ClientConfig{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: s.checkHostKey, Timeout: timeout}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return nil, fmt.Errorf("ssh: %w (is port 22 open to this machine? see provision.ssh_cidr)", err)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, s.Addr, cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh: %w", err)
	}
	s.client = ssh.NewClient(c, chans, reqs)
	return s.client, nil
}

// checkHostKey pins the first key seen for the address and refuses any other later.
func (s *SSH) checkHostKey(hostname string, remote net.Addr, key ssh.PublicKey) error {
	line := s.Addr + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	b, err := os.ReadFile(s.KnownHosts)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != s.Addr {
			continue
		}
		if l == line {
			return nil
		}
		return fmt.Errorf("ssh: the host key of %s changed (now %s): if the instance was replaced, remove its line from %s", s.Addr, ssh.FingerprintSHA256(key), s.KnownHosts)
	}
	f, err := os.OpenFile(s.KnownHosts, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(line + "\n")
	return err
}

// Run runs a command with stdin and returns its combined output.
func (s *SSH) Run(ctx context.Context, cmd string, stdin io.Reader) (string, error) {
	c, err := s.dial(ctx)
	if err != nil {
		return "", err
	}
	sess, err := c.NewSession()
	if err != nil {
		return "", fmt.Errorf("ssh: %w", err)
	}
	defer sess.Close()
	// One writer for both streams, behind a lock: two io.Copy into one bytes.Buffer race in ReadFrom.
	out := &lockedBuffer{}
	sess.Stdout, sess.Stderr, sess.Stdin = out, out, stdin
	done := make(chan error, 1)
	go func() { done <- sess.Run(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		sess.Signal(ssh.SIGTERM)
		return out.String(), ctx.Err()
	}
	if err != nil {
		return out.String(), fmt.Errorf("ssh: %s: %w", strings.Fields(cmd)[0], err)
	}
	return out.String(), nil
}

// Close ends the connection.
func (s *SSH) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return nil
	}
	err := s.client.Close()
	s.client = nil
	return err
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
