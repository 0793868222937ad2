package host_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/provision/host"
)

// Commands run with their input; the host key is pinned on first use and a different one is refused.
func TestSSHRunAndHostKeyPinning(t *testing.T) {
	srv := testenv.SSHD(t, func(cmd string, stdin io.Reader, out io.Writer) int {
		b, _ := io.ReadAll(stdin)
		io.WriteString(out, cmd+":"+string(b))
		if cmd == "fail" {
			return 3
		}
		return 0
	})
	known := filepath.Join(t.TempDir(), "known_hosts")
	s := &host.SSH{Addr: srv.Addr, User: "root", KeyFile: srv.KeyFile, KnownHosts: known}
	defer s.Close()
	out, err := s.Run(context.Background(), "cat", strings.NewReader("bundle bytes"))
	if err != nil || out != "cat:bundle bytes" {
		t.Fatalf("run: %q %v", out, err)
	}
	if _, err := s.Run(context.Background(), "fail", nil); err == nil {
		t.Fatal("a failing command succeeded")
	}
	b, _ := os.ReadFile(known)
	if !strings.HasPrefix(string(b), srv.Addr+" ") || !strings.Contains(string(b), string(ssh.MarshalAuthorizedKey(srv.HostKey))[:40]) {
		t.Fatalf("known_hosts: %q", b)
	}

	// Another server answering on a pinned address is refused.
	other := testenv.SSHD(t, func(string, io.Reader, io.Writer) int { return 0 })
	os.WriteFile(known, []byte(other.Addr+" "+string(ssh.MarshalAuthorizedKey(srv.HostKey))), 0o600)
	s2 := &host.SSH{Addr: other.Addr, User: "root", KeyFile: other.KeyFile, KnownHosts: known}
	defer s2.Close()
	if _, err := s2.Run(context.Background(), "true", nil); err == nil || !strings.Contains(err.Error(), "host key of "+other.Addr+" changed") {
		t.Fatalf("changed host key: %v", err)
	}
}
