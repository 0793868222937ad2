package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/qcloud-applet/applet/serve/session"
)

// Drawings implements session.DrawingStore in the embedded database: the default when no MongoDB is
// configured.
type Drawings struct {
	db   *sql.DB
	list *sql.Stmt // prepared once: the list is the hot read
}

var _ session.DrawingStore = (*Drawings)(nil)

// NewDrawings creates the paints table if needed.
func NewDrawings(ctx context.Context, db *sql.DB) (*Drawings, error) {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS paints (
  open_id TEXT NOT NULL,
  id TEXT NOT NULL,
  actions TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (open_id, id)
)`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: creating paints: %w", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS paints_recent ON paints (open_id, updated_at DESC)`); err != nil {
		return nil, fmt.Errorf("sqlite: creating paints index: %w", err)
	}
	list, err := db.PrepareContext(ctx, `SELECT id, actions, updated_at FROM paints WHERE open_id = ? ORDER BY updated_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: preparing the drawing list: %w", err)
	}
	return &Drawings{db: db, list: list}, nil
}

// List implements session.DrawingStore.
func (d *Drawings) List(ctx context.Context, openID string) ([]session.Drawing, error) {
	rows, err := d.list.QueryContext(ctx, openID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing drawings: %w", err)
	}
	defer rows.Close()
	out := []session.Drawing{}
	for rows.Next() {
		var x session.Drawing
		var ns int64
		if err := rows.Scan(&x.ID, &x.Actions, &ns); err != nil {
			return nil, fmt.Errorf("sqlite: listing drawings: %w", err)
		}
		x.Updated = time.Unix(0, ns)
		out = append(out, x)
	}
	return out, rows.Err()
}

// Save implements session.DrawingStore.
func (d *Drawings) Save(ctx context.Context, openID string, dr session.Drawing) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO paints (open_id, id, actions, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (open_id, id) DO UPDATE SET actions = excluded.actions, updated_at = excluded.updated_at`,
		openID, dr.ID, dr.Actions, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: saving a drawing: %w", err)
	}
	return nil
}

// Delete implements session.DrawingStore.
func (d *Drawings) Delete(ctx context.Context, openID, id string) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM paints WHERE open_id = ? AND id = ?`, openID, id)
	if err != nil {
		return fmt.Errorf("sqlite: deleting a drawing: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return session.ErrNotFound
	}
	return nil
}

// Ready implements session.DrawingStore.
func (d *Drawings) Ready(ctx context.Context) error { return d.db.PingContext(ctx) }

// Close implements session.DrawingStore.
func (d *Drawings) Close() error { d.list.Close(); return d.db.Close() }
