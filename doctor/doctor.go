// Package doctor runs checks on a deployment and reports each one's status, what was observed and the
// fix in one sentence. Checks run in parallel, each bounded by a timeout; the command layer decides
// which checks a configuration calls for.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Status of a check.
type Status string

// Statuses, from best to worst; Skipped says why in Observed.
const (
	OK      Status = "ok"
	Warn    Status = "warn"
	Fail    Status = "fail"
	Skipped Status = "skipped"
)

// Result is one check's outcome.
type Result struct {
	Check    string `json:"check"`
	Status   Status `json:"status"`
	Observed string `json:"observed"`
	Fix      string `json:"fix,omitempty"`
	Millis   int64  `json:"ms"`
}

// Group is the part of a check's name before the dot ("tls" of "tls.chain").
func (r Result) Group() string { g, _, _ := strings.Cut(r.Check, "."); return g }

// Check is one named check.
type Check struct {
	Name string
	Run  func(ctx context.Context) Result
}

// Helpers for check functions.
func Ok(observed string) Result           { return Result{Status: OK, Observed: observed} }
func Warning(observed, fix string) Result { return Result{Status: Warn, Observed: observed, Fix: fix} }
func Failed(observed, fix string) Result  { return Result{Status: Fail, Observed: observed, Fix: fix} }
func Skip(reason string) Result           { return Result{Status: Skipped, Observed: reason} }
func Failf(fix, format string, a ...any) Result {
	return Result{Status: Fail, Observed: fmt.Sprintf(format, a...), Fix: fix}
}

// Select keeps the checks named (or whose group is named) in only, minus those in skip. A name that
// matches no check is an error, so a typo does not silently check nothing.
func Select(checks []Check, only, skip []string) ([]Check, error) {
	match := func(c Check, sel string) bool {
		g, _, _ := strings.Cut(c.Name, ".")
		return c.Name == sel || g == sel
	}
	for _, sel := range append(append([]string{}, only...), skip...) {
		found := false
		for _, c := range checks {
			found = found || match(c, sel)
		}
		if !found {
			var names []string
			for _, c := range checks {
				names = append(names, c.Name)
			}
			return nil, fmt.Errorf("no check is named %q (checks: %s)", sel, strings.Join(names, ", "))
		}
	}
	var out []Check
	for _, c := range checks {
		keep := len(only) == 0
		for _, sel := range only {
			keep = keep || match(c, sel)
		}
		for _, sel := range skip {
			keep = keep && !match(c, sel)
		}
		if keep {
			out = append(out, c)
		}
	}
	return out, nil
}

// Run runs the checks in parallel, each within timeout, and returns the results in the checks' order.
func Run(ctx context.Context, checks []Check, timeout time.Duration) []Result {
	out := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			done := make(chan Result, 1)
			go func() {
				defer func() {
					if p := recover(); p != nil {
						done <- Failed(fmt.Sprintf("the check itself failed: %v", p), "report this as a bug in applet doctor")
					}
				}()
				done <- c.Run(cctx)
			}()
			var r Result
			select {
			case r = <-done:
			case <-cctx.Done():
				r = Failed(fmt.Sprintf("no answer within %s", timeout), "look at the network path to it, or raise --timeout")
			}
			r.Check = c.Name
			r.Millis = time.Since(start).Milliseconds()
			out[i] = r
		}()
	}
	wg.Wait()
	return out
}

// AnyFailed reports whether any result failed.
func AnyFailed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// Summary counts the results by status.
func Summary(rs []Result) map[Status]int {
	m := map[Status]int{}
	for _, r := range rs {
		m[r.Status]++
	}
	return m
}

// WriteJSON writes {"results":[...],"summary":{...},"ok":bool}.
func WriteJSON(w io.Writer, rs []Result) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(map[string]any{"results": rs, "summary": Summary(rs), "ok": !AnyFailed(rs)})
}

// WriteTable writes one block per check: status, name, what was seen, and the fix. Colour only when
// asked (a terminal).
func WriteTable(w io.Writer, rs []Result, color bool) {
	paint := func(s Status) string {
		label := fmt.Sprintf("%-7s", strings.ToUpper(string(s)))
		if !color {
			return label
		}
		code := map[Status]string{OK: "32", Warn: "33", Fail: "31", Skipped: "90"}[s]
		return "\x1b[" + code + "m" + label + "\x1b[0m"
	}
	width := 0
	for _, r := range rs {
		width = max(width, len(r.Check))
	}
	for _, r := range rs {
		fmt.Fprintf(w, "%s %-*s  %s\n", paint(r.Status), width, r.Check, r.Observed)
		if r.Fix != "" && r.Status != OK {
			fmt.Fprintf(w, "%-7s %-*s  fix: %s\n", "", width, "", r.Fix)
		}
	}
	s := Summary(rs)
	fmt.Fprintf(w, "\n%d ok, %d warn, %d fail, %d skipped\n", s[OK], s[Warn], s[Fail], s[Skipped])
}
