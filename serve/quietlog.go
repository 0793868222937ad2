package serve

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// QuietRepeats passes a warning or error on once per interval for each message: the repeats in
// between are counted and the next one that passes says how many were left out ("repeated"). One
// hostile client then costs the log a line per interval, not a line per request.
func QuietRepeats(h slog.Handler, interval time.Duration) slog.Handler {
	return &quietHandler{next: h, interval: interval, state: &quietState{seen: map[string]*quietKind{}}}
}

type quietState struct {
	mu   sync.Mutex
	seen map[string]*quietKind
}

type quietKind struct {
	last    time.Time
	skipped int
}

type quietHandler struct {
	next     slog.Handler
	interval time.Duration
	state    *quietState
}

func (q *quietHandler) Enabled(ctx context.Context, l slog.Level) bool { return q.next.Enabled(ctx, l) }

func (q *quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return q.next.Handle(ctx, r)
	}
	key := r.Level.String() + " " + r.Message
	q.state.mu.Lock()
	k, ok := q.state.seen[key]
	if !ok {
		if len(q.state.seen) > 1024 { // bounded whatever the messages
			q.state.seen = map[string]*quietKind{}
		}
		k = &quietKind{}
		q.state.seen[key] = k
	}
	if ok && r.Time.Sub(k.last) < q.interval {
		k.skipped++
		q.state.mu.Unlock()
		return nil
	}
	skipped := k.skipped
	k.last, k.skipped = r.Time, 0
	q.state.mu.Unlock()
	if skipped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeated", skipped))
	}
	return q.next.Handle(ctx, r)
}

func (q *quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &quietHandler{next: q.next.WithAttrs(as), interval: q.interval, state: q.state}
}

func (q *quietHandler) WithGroup(name string) slog.Handler {
	return &quietHandler{next: q.next.WithGroup(name), interval: q.interval, state: q.state}
}
