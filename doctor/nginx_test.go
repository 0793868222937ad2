package doctor_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/qcloud-applet/applet/doctor"
)

func TestNginxPaths(t *testing.T) {
	s := newSite(t)
	healthy := s.https(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/healthz") {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok"))
	}))
	expect(t, check(t, s.with(t, healthy, 0), "nginx.paths"), doctor.OK, "the 4 app paths reach their backends", "")
	noVideo := s.https(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/applet/video/") {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		w.Write([]byte("ok"))
	}))
	expect(t, check(t, s.with(t, noVideo, 0), "nginx.paths"), doctor.Fail, "/applet/video/healthz answered 502", "systemctl status applet@<app>")
}

func TestNginxUploadLimit(t *testing.T) {
	s := newSite(t)
	// nginx with a limit below the album's answers 413 on the headers alone.
	small := s.https(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}))
	expect(t, check(t, s.with(t, small, 0), "nginx.upload-limit"), doctor.Fail, "nginx refuses a 5.5 MiB upload (413)", "client_max_body_size 6m")
	// A proxy that lets the body through waits for it.
	open := s.https(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	expect(t, check(t, s.with(t, open, 0), "nginx.upload-limit"), doctor.OK, "a 5.5 MiB upload is let through to the album (limit 5 MiB)", "")
}

func TestNginxWebSocket(t *testing.T) {
	s := newSite(t)
	up := websocket.Upgrader{}
	withUpgrade := s.https(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.WriteMessage(websocket.TextMessage, []byte(`0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000}`))
		c.ReadMessage()
	}))
	expect(t, check(t, s.with(t, withUpgrade, 0), "nginx.websocket"), doctor.OK, "the WebSocket upgrade and the Engine.IO handshake work", "")
	// A location without the upgrade headers reaches the backend as a plain GET.
	plain := s.https(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"code":-1}`, http.StatusBadRequest)
	}))
	expect(t, check(t, s.with(t, plain, 0), "nginx.websocket"), doctor.Fail, "bad handshake", "proxy_set_header Upgrade $http_upgrade")
}
