// Package sqlite opens the embedded SQLite database (modernc.org/sqlite, no cgo) for applet's stores.
package sqlite

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Open opens (creating) the database file at path, in WAL mode with a busy timeout so readers and
// the single writer do not fail each other, and synchronous=FULL so an acknowledged write survives
// a power loss.
func Open(path string) (*sql.DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(5000)", "foreign_keys(1)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	// A pool that keeps what it opens: database/sql keeps 2 idle connections by default, so under
	// load most queries would open one and run its pragmas (WAL, busy timeout) again. WAL lets the
	// readers run side by side; writes still go one at a time, waiting at most busy_timeout.
	n := max(4, 2*runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return db, nil
}
