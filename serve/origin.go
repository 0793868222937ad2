package serve

import (
	"net/http"
	"strings"
)

// Origin is where clients reach this server: configured when set, else what the proxy says
// (X-Forwarded-Proto and X-Forwarded-Host), else the request's own scheme and Host.
func Origin(r *http.Request, configured string) string {
	if configured != "" {
		return strings.TrimSuffix(configured, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" && !strings.ContainsAny(h, "/ ,") {
		host = h
	}
	return scheme + "://" + host
}
