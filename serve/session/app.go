package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"unicode/utf8"

	"github.com/qcloud-applet/applet/serve"
)

// DefaultMaxActions bounds a drawing's actions.
const DefaultMaxActions = 1 << 20

// maxID bounds a drawing id, in characters.
const maxID = 128

// Options configure the app.
type Options struct {
	Sessions   Store
	Drawings   DrawingStore
	Middleware *Middleware
	Logger     *slog.Logger
	MaxActions int // bytes; default 1 MiB
	Backend    []any
}

// App is the session and drawing backend.
type App struct {
	opts Options
	log  *slog.Logger
}

var _ serve.App = (*App)(nil)

// New returns the app.
func New(opts Options) *App {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxActions <= 0 {
		opts.MaxActions = DefaultMaxActions
	}
	return &App{opts: opts, log: opts.Logger}
}

// Name implements serve.App.
func (a *App) Name() string { return "session" }

// BasePath implements serve.App.
func (a *App) BasePath() string { return BasePath }

// Register implements serve.App.
func (a *App) Register(r *serve.Router) {
	mw := a.opts.Middleware.Wrap
	r.HandleFunc("GET /login", a.opts.Middleware.Login)
	r.Handle("GET /user", mw(http.HandlerFunc(a.user)))
	r.Handle("GET /paints/list", mw(http.HandlerFunc(a.list)))
	r.Handle("POST /paints/save", mw(http.HandlerFunc(a.save)))
	r.Handle("POST /paints/delete", mw(http.HandlerFunc(a.delete)))
}

// Ready implements serve.App: both stores answer.
func (a *App) Ready(ctx context.Context) error {
	return errors.Join(a.opts.Sessions.Ready(ctx), a.opts.Drawings.Ready(ctx))
}

// Shutdown implements serve.App.
func (a *App) Shutdown(ctx context.Context) error {
	return errors.Join(a.opts.Sessions.Close(), a.opts.Drawings.Close())
}

// Describe implements serve.Describer.
func (a *App) Describe() []any { return a.opts.Backend }

func (a *App) user(w http.ResponseWriter, r *http.Request) {
	s, ok := FromContext(r.Context())
	if !ok {
		skeyError(w, http.StatusUnauthorized, ErrSkeyInvalid)
		return
	}
	serve.WriteJSON(w, http.StatusOK, map[string]any{"code": 0, "data": s.UserInfo})
}

func fail(w http.ResponseWriter, status int, reason string) {
	serve.WriteJSON(w, status, map[string]any{"code": -1, "msg": "fail", "error": map[string]any{"reason": reason}})
}

func success(w http.ResponseWriter, data any) {
	serve.WriteJSON(w, http.StatusOK, map[string]any{"code": 0, "msg": "success", "data": data})
}

// signedIn returns the user's openId, or answers the original's failure.
func signedIn(w http.ResponseWriter, r *http.Request) (string, bool) {
	s, ok := FromContext(r.Context())
	if !ok {
		fail(w, http.StatusOK, "openId does not exists")
		return "", false
	}
	return s.OpenID, true
}

func (a *App) storeFailed(w http.ResponseWriter, r *http.Request, op string, err error) {
	serve.LoggerFrom(r.Context(), a.log).Error("drawing store", "op", op, "err", err)
	fail(w, http.StatusServiceUnavailable, "drawing store unavailable, try again later")
}

type drawingJSON struct {
	ID      string `json:"id"`
	Actions string `json:"actions"`
}

func (a *App) list(w http.ResponseWriter, r *http.Request) {
	openID, ok := signedIn(w, r)
	if !ok {
		return
	}
	ds, err := a.opts.Drawings.List(r.Context(), openID)
	if err != nil {
		a.storeFailed(w, r, "list", err)
		return
	}
	out := make([]drawingJSON, len(ds))
	for i, d := range ds {
		out[i] = drawingJSON{d.ID, d.Actions}
	}
	success(w, out)
}

// readFields reads a JSON object body of at most limit bytes into raw fields.
func readFields(w http.ResponseWriter, r *http.Request, limit int) (map[string]json.RawMessage, string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	if err != nil {
		return nil, "body too large"
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil || fields == nil {
		return nil, "body is not a JSON object"
	}
	return fields, ""
}

// stringField returns a field that must be a JSON string (an object such as {"$gt":""} is refused).
func stringField(fields map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := fields[name]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func validID(id string) bool {
	return id != "" && utf8.ValidString(id) && utf8.RuneCountInString(id) <= maxID
}

func (a *App) save(w http.ResponseWriter, r *http.Request) {
	openID, ok := signedIn(w, r)
	if !ok {
		return
	}
	fields, bad := readFields(w, r, a.opts.MaxActions+64<<10)
	if bad == "body too large" {
		fail(w, http.StatusOK, "actions is too large")
		return
	}
	if bad != "" {
		fail(w, http.StatusOK, "id or actions does not exists: "+bad)
		return
	}
	id, okID := stringField(fields, "id")
	actions, okActions := stringField(fields, "actions")
	if !okID || !okActions {
		fail(w, http.StatusOK, "id or actions does not exists")
		return
	}
	if !validID(id) {
		fail(w, http.StatusOK, "id must be a string of 1 to 128 characters")
		return
	}
	if len(actions) > a.opts.MaxActions {
		fail(w, http.StatusOK, "actions is too large")
		return
	}
	if t := bytes.TrimSpace([]byte(actions)); len(t) == 0 || t[0] != '[' || !json.Valid(t) {
		fail(w, http.StatusOK, "actions must be a JSON array")
		return
	}
	if err := a.opts.Drawings.Save(r.Context(), openID, Drawing{ID: id, Actions: actions}); err != nil {
		a.storeFailed(w, r, "save", err)
		return
	}
	success(w, map[string]any{})
}

func (a *App) delete(w http.ResponseWriter, r *http.Request) {
	openID, ok := signedIn(w, r)
	if !ok {
		return
	}
	fields, bad := readFields(w, r, 16<<10)
	if bad != "" {
		fail(w, http.StatusOK, "id does not exists")
		return
	}
	id, okID := stringField(fields, "id")
	if !okID || !validID(id) {
		fail(w, http.StatusOK, "id does not exists")
		return
	}
	err := a.opts.Drawings.Delete(r.Context(), openID, id)
	if errors.Is(err, ErrNotFound) {
		fail(w, http.StatusOK, "id does not exists")
		return
	}
	if err != nil {
		a.storeFailed(w, r, "delete", err)
		return
	}
	success(w, map[string]any{})
}
