// Package session is WeChat login sessions and the drawing store, `applet serve session`, mounted at
// /applet/session. It speaks the original session protocol (X-WX-Code, X-WX-RawData, X-WX-Signature and
// the magic-id error body) and the skey protocol of wafer2-client-sdk; both share one store and one live
// session per openId. Its Middleware gives any app the signed-in user.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"
)

// BasePath is where the app is mounted.
const BasePath = "/applet/session"

// DefaultListen is the app's documented address.
const DefaultListen = ":5757"

// DefaultTTL is how long a session lives, as in the original.
const DefaultTTL = 7200 * time.Second

// Session is one login. SessionKey never leaves the server and is never logged.
type Session struct {
	ID         string          `json:"id"` // the wx.login code (original protocol) or the skey
	OpenID     string          `json:"openId"`
	SessionKey string          `json:"sessionKey"`
	UserInfo   json.RawMessage `json:"userInfo"`
	Created    time.Time       `json:"created"`
	Expires    time.Time       `json:"expires"`
}

// String and LogValue keep the session key out of logs, whatever the handler (slog's JSON handler
// would otherwise marshal every field).
func (s Session) String() string { return "session{openId=" + s.OpenID + "}" }

// LogValue implements slog.LogValuer.
func (s Session) LogValue() slog.Value { return slog.GroupValue(slog.String("openId", s.OpenID)) }

// Errors of the stores.
var (
	ErrNotFound    = errors.New("not found")
	ErrUnavailable = errors.New("store unavailable")
)

// Store keeps sessions. Implementations are safe for concurrent use.
//
// The contract, checked by storetest.RunSessionStore against every implementation:
//   - Put stores s under s.ID until s.Expires and makes it its openId's only live session: the
//     openId's previous session, whatever its ID, is gone once Put returns.
//   - Get returns the session with id, or ErrNotFound when there is none or it has expired.
//   - Delete removes a session; deleting a missing one is not an error.
//   - A store that cannot reach its server returns an error wrapping ErrUnavailable, promptly.
type Store interface {
	Put(ctx context.Context, s Session) error
	Get(ctx context.Context, id string) (Session, error)
	Delete(ctx context.Context, id string) error
	Ready(ctx context.Context) error
	Close() error
}

// Drawing is one saved drawing: Actions is the client's JSON string, kept exactly as received.
type Drawing struct {
	ID      string
	Actions string
	Updated time.Time
}

// DrawingStore keeps each user's drawings.
//
// The contract, checked by storetest.RunDrawingStore against every implementation:
//   - Save creates or replaces the drawing (openID, d.ID); another user's drawing with the same id is
//     never touched.
//   - List returns the user's drawings, most recently saved first, Actions byte for byte.
//   - Delete removes (openID, id), or returns ErrNotFound.
//   - A store that cannot reach its server returns an error wrapping ErrUnavailable, promptly.
type DrawingStore interface {
	List(ctx context.Context, openID string) ([]Drawing, error)
	Save(ctx context.Context, openID string, d Drawing) error
	Delete(ctx context.Context, openID, id string) error
	Ready(ctx context.Context) error
	Close() error
}
