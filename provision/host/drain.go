package host

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// InFlightMetric is the backends' gauge of the HTTP requests they are serving. A WebSocket is not one
// once it is accepted: it ends when its backend restarts, and its player connects again elsewhere.
const InFlightMetric = "applet_http_requests_in_flight"

// Drain waits until no backend of this host serves a request, or within has passed, and says how it
// went: an instance taken out of its load balancer converges as soon as what it was serving is done,
// and no later than within, whatever it still serves then.
func Drain(ctx context.Context, o Options, within time.Duration) (string, error) {
	o.defaults()
	m, err := LoadManifest(o.Root)
	if err != nil {
		return "", err
	}
	var metrics []string
	for _, h := range m.Health {
		u, err := url.Parse(h)
		if err != nil {
			return "", fmt.Errorf("manifest health URL %q: %w", h, err)
		}
		metrics = append(metrics, u.Scheme+"://"+u.Host+"/metrics")
	}
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	deadline := start.Add(within)
	for {
		busy := 0
		for _, u := range metrics {
			busy += inFlight(ctx, client, u)
		}
		took := time.Since(start).Round(10 * time.Millisecond)
		if busy == 0 {
			return fmt.Sprintf("host: drained: no request in flight after %s", took), nil
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("host: %d requests still in flight after %s: converging anyway", busy, took), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// inFlight asks one backend how many requests it serves besides this one (a backend that does not
// answer serves none).
func inFlight(ctx context.Context, client *http.Client, u string) int {
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), InFlightMetric+" "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0
			}
			return max(int(n)-1, 0) // the metrics request itself is in flight
		}
	}
	return 0
}
