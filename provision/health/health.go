// Package health checks a deployment the way a mini program meets it: each backend's readyz through
// nginx with the domain's certificate, and a WebSocket upgrade with the Engine.IO handshake.
package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/game"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/video"
)

// BasePaths are the four apps' paths behind the domain, in start order.
var BasePaths = []string{album.BasePath, game.BasePath, session.BasePath, video.BasePath}

// HTTPS is provision.Health: the backends through the domain on Port, trusted against Roots (nil: the
// system's), retried until Timeout.
type HTTPS struct {
	Domain  string
	Port    int
	Roots   *x509.CertPool
	Timeout time.Duration
}

var _ provision.Health = (*HTTPS)(nil)

func (h *HTTPS) dialer(ip string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	target := net.JoinHostPort(ip, strconv.Itoa(h.Port))
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, target)
	}
}

// Check asks every backend's readyz through the instance at ip, then upgrades a WebSocket.
func (h *HTTPS) Check(ctx context.Context, ip string) (string, error) {
	tlsCfg := &tls.Config{RootCAs: h.Roots, ServerName: h.Domain, MinVersion: tls.VersionTLS12}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: h.dialer(ip), TLSClientConfig: tlsCfg}}
	base := "https://" + h.Domain
	if h.Port != 443 {
		base += ":" + strconv.Itoa(h.Port)
	}
	deadline := time.Now().Add(h.Timeout)
	var last error
	for {
		last = nil
		for _, p := range BasePaths {
			resp, err := client.Get(base + p + "/readyz")
			if err != nil {
				last = err
				break
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				last = fmt.Errorf("GET %s%s/readyz answered %d", base, p, resp.StatusCode)
				break
			}
		}
		if last == nil {
			last = h.WebSocket(ctx, ip, tlsCfg, base)
		}
		if last == nil {
			return "4 backends ready through " + base + ", WebSocket handshake done", nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the backends are not healthy through %s after %s: %w (applet doctor tells more)", base, h.Timeout, last)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// WebSocket upgrades the game's socket.io path at base through ip and waits for the Engine.IO open
// packet.
func (h *HTTPS) WebSocket(ctx context.Context, ip string, tlsCfg *tls.Config, base string) error {
	d := websocket.Dialer{NetDialContext: h.dialer(ip), TLSClientConfig: tlsCfg, HandshakeTimeout: 10 * time.Second}
	u, _ := url.Parse(base)
	u.Scheme = "wss"
	u.Path = game.BasePath + "/socket.io/"
	u.RawQuery = "EIO=4&transport=websocket"
	conn, _, err := d.DialContext(ctx, u.String(), nil)
	if err != nil {
		return fmt.Errorf("WebSocket %s: %w", u, err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil || !strings.HasPrefix(string(msg), "0{") {
		return fmt.Errorf("WebSocket %s: no Engine.IO open packet (%q, %v)", u, msg, err)
	}
	return nil
}
