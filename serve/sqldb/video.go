// Package sqldb is the video store on database/sql, for both MySQL and SQLite: the queries are the
// same, the dialects differ only in the schema that sqlseed applies.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/qcloud-applet/applet/serve/video"
	"github.com/qcloud-applet/applet/sqlseed"
)

// VideoStore implements video.Store.
type VideoStore struct {
	db      *sql.DB
	dialect sqlseed.Dialect
	timeout time.Duration

	mu       sync.Mutex
	stmts    map[string]*sql.Stmt
	schemaOK bool

	// The video count, cached: InnoDB counts by scanning, and every list request needs the total.
	// Videos are added by operators, not by users, so a total up to countTTL old is fine.
	countMu         sync.Mutex
	count           int
	countAt         time.Time
	countRefreshing bool
}

// countTTL bounds how stale the video total in /list may be.
const countTTL = time.Second

var _ video.Store = (*VideoStore)(nil)

// Queries, prepared once per store. Paging by offset is the contract (pageNo); the inner query walks
// only the primary key, so a deep page does not read the rows it skips.
var queries = map[string]string{
	"count": "SELECT COUNT(*) FROM video",
	"stamp": "SELECT COUNT(*), COALESCE(MAX(id), 0), MAX(updated_at) FROM video",
	// A range of the primary key in its order: every plan of it is a short walk of the clustered
	// index, whatever the statistics say.
	"after":  "SELECT id, video_title, video_image, video_url FROM video WHERE id > ? ORDER BY id LIMIT ?",
	"videos": "SELECT v.id, v.video_title, v.video_image, v.video_url FROM video v JOIN (SELECT id FROM video ORDER BY id LIMIT ? OFFSET ?) p ON p.id = v.id ORDER BY v.id",
	"exists": "SELECT COUNT(*) FROM video WHERE id = ?",
	"newest": "SELECT id, vid, nick, avatar, content, created_at FROM comment WHERE vid = ? ORDER BY id DESC LIMIT ?",
	"before": "SELECT id, vid, nick, avatar, content, created_at FROM comment WHERE vid = ? AND id < ? ORDER BY id DESC LIMIT ?",
	// Inserting from the video row makes "the video exists" and "the comment is stored" one statement.
	"add": "INSERT INTO comment (vid, nick, avatar, content) SELECT id, ?, ?, ? FROM video WHERE id = ?",
}

// NewVideoStore returns a store over db. timeout bounds every query.
func NewVideoStore(db *sql.DB, d sqlseed.Dialect, timeout time.Duration) *VideoStore {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &VideoStore{db: db, dialect: d, timeout: timeout, stmts: map[string]*sql.Stmt{}}
}

// stmt prepares a query on first use, so a store can be created while the database is down.
func (s *VideoStore) stmt(ctx context.Context, name string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts[name]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, queries[name])
	if err != nil {
		return nil, fmt.Errorf("preparing %s: %w", name, err)
	}
	s.stmts[name] = st
	return st, nil
}

// Videos implements video.Store.
func (s *VideoStore) Videos(ctx context.Context, offset, limit int) ([]video.Video, int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	total, err := s.total(ctx)
	if err != nil {
		return nil, 0, err
	}
	if offset >= total {
		return []video.Video{}, total, nil
	}
	q, err := s.stmt(ctx, "videos")
	if err != nil {
		return nil, 0, err
	}
	rows, err := q.QueryContext(ctx, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("listing videos: %w", err)
	}
	defer rows.Close()
	out := []video.Video{}
	for rows.Next() {
		var v video.Video
		if err := rows.Scan(&v.ID, &v.Title, &v.Image, &v.URL); err != nil {
			return nil, 0, fmt.Errorf("listing videos: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("listing videos: %w", err)
	}
	return out, total, nil
}

// VideosAfter implements video.Store.
func (s *VideoStore) VideosAfter(ctx context.Context, after int64, limit int) ([]video.Video, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	q, err := s.stmt(ctx, "after")
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("listing videos: %w", err)
	}
	defer rows.Close()
	out := make([]video.Video, 0, min(limit, 1024))
	for rows.Next() {
		var v video.Video
		if err := rows.Scan(&v.ID, &v.Title, &v.Image, &v.URL); err != nil {
			return nil, fmt.Errorf("listing videos: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing videos: %w", err)
	}
	return out, nil
}

// VideoStamp implements video.Store.
func (s *VideoStore) VideoStamp(ctx context.Context) (video.Stamp, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var st video.Stamp
	var updated sql.NullString // a TIMESTAMP arrives as text or, with parseTime, as a time
	q, err := s.stmt(ctx, "stamp")
	if err == nil {
		err = q.QueryRowContext(ctx).Scan(&st.Count, &st.MaxID, &updated)
	}
	if err != nil {
		return video.Stamp{}, fmt.Errorf("checking videos: %w", err)
	}
	st.Updated = updated.String
	return st, nil
}

// total returns the cached count; a stale one is served while one request refreshes it in the
// background, so no request waits for the count once it is known.
func (s *VideoStore) total(ctx context.Context) (int, error) {
	s.countMu.Lock()
	if !s.countAt.IsZero() {
		n := s.count
		if time.Since(s.countAt) > countTTL && !s.countRefreshing {
			s.countRefreshing = true
			go func() {
				rctx, cancel := context.WithTimeout(context.Background(), s.timeout)
				defer cancel()
				_, _ = s.countNow(rctx)
			}()
		}
		s.countMu.Unlock()
		return n, nil
	}
	s.countMu.Unlock()
	return s.countNow(ctx)
}

func (s *VideoStore) countNow(ctx context.Context) (int, error) {
	var n int
	st, err := s.stmt(ctx, "count")
	if err == nil {
		err = st.QueryRowContext(ctx).Scan(&n)
	}
	s.countMu.Lock()
	defer s.countMu.Unlock()
	s.countRefreshing = false
	if err != nil {
		return 0, fmt.Errorf("counting videos: %w", err)
	}
	s.count, s.countAt = n, time.Now()
	return n, nil
}

// Comments implements video.Store.
func (s *VideoStore) Comments(ctx context.Context, vid, before int64, limit int) ([]video.Comment, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var rows *sql.Rows
	if before > 0 {
		q, err := s.stmt(ctx, "before")
		if err != nil {
			return nil, err
		}
		rows, err = q.QueryContext(ctx, vid, before, limit)
		if err != nil {
			return nil, fmt.Errorf("listing comments: %w", err)
		}
	} else {
		q, err := s.stmt(ctx, "newest")
		if err != nil {
			return nil, err
		}
		rows, err = q.QueryContext(ctx, vid, limit)
		if err != nil {
			return nil, fmt.Errorf("listing comments: %w", err)
		}
	}
	defer rows.Close()
	out := []video.Comment{}
	for rows.Next() {
		var c video.Comment
		var created any
		if err := rows.Scan(&c.ID, &c.VID, &c.Nick, &c.Avatar, &c.Content, &created); err != nil {
			return nil, fmt.Errorf("listing comments: %w", err)
		}
		c.CreatedAt = parseTime(created)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing comments: %w", err)
	}
	if len(out) > 0 {
		return out, nil // comments exist only on videos that exist
	}
	exists, err := s.stmt(ctx, "exists")
	if err != nil {
		return nil, err
	}
	var n int
	if err := exists.QueryRowContext(ctx, vid).Scan(&n); err != nil {
		return nil, fmt.Errorf("looking up video: %w", err)
	}
	if n == 0 {
		return nil, video.ErrVideoNotFound
	}
	return out, nil
}

// AddComment implements video.Store. The insert is committed (autocommit) before it returns.
func (s *VideoStore) AddComment(ctx context.Context, c video.Comment) (video.Comment, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	q, err := s.stmt(ctx, "add")
	if err != nil {
		return c, err
	}
	res, err := q.ExecContext(ctx, c.Nick, c.Avatar, c.Content, c.VID)
	if err != nil {
		return c, fmt.Errorf("adding comment: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return c, fmt.Errorf("adding comment: %w", err)
	} else if n == 0 {
		return c, video.ErrVideoNotFound
	}
	id, err := res.LastInsertId()
	if err != nil {
		return c, fmt.Errorf("adding comment: %w", err)
	}
	c.ID = id
	c.CreatedAt = time.Now().UTC()
	return c, nil
}

// ErrSchemaBehind means the database lacks migrations this applet needs.
var ErrSchemaBehind = errors.New("database schema is behind")

// Ready implements video.Store: the database answers and its schema is at this applet's version.
func (s *VideoStore) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return s.CheckSchema(ctx)
}

// CheckSchema fails with ErrSchemaBehind (saying what to run) until the schema is current; once it
// is, the answer is remembered.
func (s *VideoStore) CheckSchema(ctx context.Context) error {
	s.mu.Lock()
	ok := s.schemaOK
	s.mu.Unlock()
	if ok {
		return nil
	}
	st, err := (&sqlseed.Migrator{DB: s.db, Dialect: s.dialect}).Status(ctx, false)
	if err != nil {
		return err
	}
	if len(st.Pending) > 0 {
		return fmt.Errorf("%w: at version %d, this applet needs %d: run `applet seed-mysql`, or start serve with --migrate", ErrSchemaBehind, st.Version, st.Latest)
	}
	s.mu.Lock()
	s.schemaOK = true
	s.mu.Unlock()
	return nil
}

// Close implements video.Store.
func (s *VideoStore) Close() error {
	s.mu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = map[string]*sql.Stmt{}
	s.mu.Unlock()
	return s.db.Close()
}

func parseTime(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t
	case []byte:
		return parseTimeString(string(t))
	case string:
		return parseTimeString(t)
	}
	return time.Time{}
}

func parseTimeString(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
