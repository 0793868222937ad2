package game

import (
	"context"
	"sync"
)

// LocalCluster is the Cluster of a single node, in memory: what the game uses without Redis.
type LocalCluster struct {
	mu        sync.Mutex
	waiting   *Ticket
	positions map[string]latLng
	inbox     chan Message
	done      chan struct{}
	once      sync.Once
}

var _ Cluster = (*LocalCluster)(nil)

// NewLocalCluster returns an empty one-node cluster.
func NewLocalCluster() *LocalCluster {
	return &LocalCluster{positions: map[string]latLng{}, inbox: make(chan Message, 1024), done: make(chan struct{})}
}

func (l *LocalCluster) Node() string { return "local" }

func (l *LocalCluster) Match(ctx context.Context, t Ticket) (Ticket, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.waiting; w != nil && w.Player != t.Player {
		l.waiting = nil
		return *w, true, nil
	}
	l.waiting = &t
	return Ticket{}, false, nil
}

func (l *LocalCluster) Unwait(ctx context.Context, t Ticket) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiting != nil && *l.waiting == t {
		l.waiting = nil
		return true, nil
	}
	return false, nil
}

// Publish delivers to this node's subscriber, never blocking the caller (which holds the hub's lock).
func (l *LocalCluster) Publish(node string, m Message) {
	select {
	case l.inbox <- m:
	case <-l.done:
	}
}

func (l *LocalCluster) Subscribe(f func([]Message)) error {
	go func() {
		var batch []Message
		for {
			select {
			case m := <-l.inbox:
				batch = append(batch[:0], m)
			more:
				for len(batch) < cap(l.inbox) {
					select {
					case m := <-l.inbox:
						batch = append(batch, m)
					default:
						break more
					}
				}
				f(batch)
			case <-l.done:
				return
			}
		}
	}()
	return nil
}

func (l *LocalCluster) Alive(ctx context.Context, node string) bool { return node == l.Node() }

func (l *LocalCluster) SetPosition(ctx context.Context, player string, lat, lng float64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.positions[player] = latLng{Lat: lat, Lng: lng}
	return nil
}

func (l *LocalCluster) RemovePosition(ctx context.Context, player string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.positions, player)
	return nil
}

func (l *LocalCluster) Nearby(ctx context.Context, lat, lng, km float64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.positions {
		if distanceKm(latLng{Lat: lat, Lng: lng}, p) <= km {
			n++
		}
	}
	return n, nil
}

// ClaimUID always succeeds: on one node the hub's own map keeps uids apart.
func (l *LocalCluster) ClaimUID(ctx context.Context, uid, player string) (bool, error) {
	return true, nil
}

func (l *LocalCluster) ReleaseUID(ctx context.Context, uid, player string) error { return nil }

func (l *LocalCluster) Ready(ctx context.Context) error { return nil }

func (l *LocalCluster) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}
