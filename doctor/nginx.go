package doctor

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/provision/health"
	"github.com/qcloud-applet/applet/serve/album"
)

// The proxy, checked through the domain as a phone reaches it.

func (d *env) checkPaths(ctx context.Context) Result {
	if !d.deployed() {
		return Skip(localSkip)
	}
	client, base, err := d.httpsClient(ctx)
	if err != nil {
		return Failed(err.Error(), "fix DNS first (see dns.resolve)")
	}
	var bad []string
	for _, a := range appPaths {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+a.base+"/healthz", nil)
		resp, err := client.Do(req)
		if err != nil {
			bad = append(bad, a.base+": "+err.Error())
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			bad = append(bad, fmt.Sprintf("%s/healthz answered %d", a.base, resp.StatusCode))
		}
	}
	if len(bad) > 0 {
		return Failed(strings.Join(bad, "; "), "give each app's path a location that proxies to its port (the applet nginx site does), and check the backend runs (systemctl status applet@<app>)")
	}
	return Ok("the 4 app paths reach their backends")
}

func (d *env) checkWebSocket(ctx context.Context) Result {
	if !d.deployed() {
		return Skip(localSkip)
	}
	addr, err := d.addr(ctx, d.c.Provision.HTTPSPort)
	if err != nil {
		return Failed(err.Error(), "fix DNS first (see dns.resolve)")
	}
	h := &health.HTTPS{Domain: d.c.Domain, Port: d.c.Provision.HTTPSPort}
	ip, _, _ := net.SplitHostPort(addr)
	base := "https://" + d.c.Domain + ":" + strconv.Itoa(d.c.Provision.HTTPSPort)
	err = h.WebSocket(ctx, ip, &tls.Config{ServerName: d.c.Domain, InsecureSkipVerify: true}, base)
	if err != nil {
		return Failed(err.Error(), "pass the upgrade in the game's location: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\" (the applet site does)")
	}
	return Ok("the WebSocket upgrade and the Engine.IO handshake work through nginx")
}

// checkUploadLimit sends the headers of an upload slightly over the album's limit: nginx judges
// Content-Length before reading a byte of the body, so a 413 means its limit is below the album's.
func (d *env) checkUploadLimit(ctx context.Context) Result {
	if !d.deployed() {
		return Skip(localSkip)
	}
	addr, err := d.addr(ctx, d.c.Provision.HTTPSPort)
	if err != nil {
		return Failed(err.Error(), "fix DNS first (see dns.resolve)")
	}
	size := int64(d.c.Album.MaxUploadMB)<<20 + 512<<10
	dl := tls.Dialer{Config: &tls.Config{ServerName: d.c.Domain, InsecureSkipVerify: true}}
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Failed("TLS to "+addr+": "+err.Error(), "see tls.chain")
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s/upload HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", album.BasePath, d.c.Domain, size)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	mb := float64(size) / (1 << 20)
	if err != nil {
		return Ok(fmt.Sprintf("a %.1f MiB upload is let through to the album (limit %d MiB)", mb, d.c.Album.MaxUploadMB))
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		return Failf(fmt.Sprintf("set client_max_body_size %dm in the album's upload location (the applet site does)", d.c.Album.MaxUploadMB+1),
			"nginx refuses a %.1f MiB upload (413): its limit is below the album's %d MiB", mb, d.c.Album.MaxUploadMB)
	}
	return Ok(fmt.Sprintf("a %.1f MiB upload is let through (answered %d before its body)", mb, resp.StatusCode))
}
