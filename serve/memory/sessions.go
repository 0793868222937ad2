// Package memory keeps sessions in process: the embedded default of `applet serve session`.
package memory

import (
	"context"
	"sync"
	"time"

	"github.com/qcloud-applet/applet/serve/session"
)

// Sessions implements session.Store in memory.
type Sessions struct {
	mu     sync.Mutex
	byID   map[string]session.Session
	byOpen map[string]string // openId → its live session's id
	now    func() time.Time
}

var _ session.Store = (*Sessions)(nil)

// NewSessions returns an empty store.
func NewSessions() *Sessions {
	return &Sessions{byID: map[string]session.Session{}, byOpen: map[string]string{}, now: time.Now}
}

// Put implements session.Store.
func (m *Sessions) Put(ctx context.Context, s session.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.byOpen[s.OpenID]; ok && old != s.ID {
		delete(m.byID, old)
	}
	if prev, ok := m.byID[s.ID]; ok && prev.OpenID != s.OpenID {
		delete(m.byOpen, prev.OpenID)
	}
	m.byID[s.ID] = s
	m.byOpen[s.OpenID] = s.ID
	m.sweep()
	return nil
}

// sweep drops expired sessions now and then, so the maps do not grow without bound.
func (m *Sessions) sweep() {
	if len(m.byID)%256 != 0 {
		return
	}
	now := m.now()
	for id, s := range m.byID {
		if !now.Before(s.Expires) {
			delete(m.byID, id)
			if m.byOpen[s.OpenID] == id {
				delete(m.byOpen, s.OpenID)
			}
		}
	}
}

// Get implements session.Store.
func (m *Sessions) Get(ctx context.Context, id string) (session.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byID[id]
	if !ok || !m.now().Before(s.Expires) {
		return session.Session{}, session.ErrNotFound
	}
	return s, nil
}

// Delete implements session.Store.
func (m *Sessions) Delete(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.byID[id]; ok {
		delete(m.byID, id)
		if m.byOpen[s.OpenID] == id {
			delete(m.byOpen, s.OpenID)
		}
	}
	return nil
}

// Ready implements session.Store.
func (m *Sessions) Ready(ctx context.Context) error { return nil }

// Close implements session.Store.
func (m *Sessions) Close() error { return nil }
