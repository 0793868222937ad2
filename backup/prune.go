package backup

import (
	"context"
	"fmt"
	"path"
	"time"
)

// Retention is how many backups are kept: the newest of each of the last Daily days that have one,
// and of each of the last Weekly ISO weeks; the newest backup always.
type Retention struct {
	Daily  int
	Weekly int
	// Grace protects parts younger than it from collection: they may belong to a backup being
	// written right now, whose manifest does not exist yet.
	Grace time.Duration
}

// Keep returns which of ms (newest first) the retention keeps.
func (k Retention) Keep(ms []*Manifest) map[string]bool {
	keep := map[string]bool{}
	if len(ms) > 0 {
		keep[ms[0].ID] = true
	}
	pick := func(n int, bucket func(time.Time) string) {
		seen := map[string]bool{}
		for _, m := range ms {
			b := bucket(m.Created.UTC())
			if seen[b] {
				continue
			}
			if len(seen) == n {
				return
			}
			seen[b] = true
			keep[m.ID] = true
		}
	}
	pick(k.Daily, func(t time.Time) string { return t.Format("2006-01-02") })
	pick(k.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-%d", y, w) })
	return keep
}

// PruneReport says what a prune removed.
type PruneReport struct {
	Backups, Parts int
	Bytes          int64
	Kept           int
}

// Prune deletes the backups the retention does not keep, then the parts no kept backup refers to
// (manifests first: a part is never deleted while a manifest names it).
func (r *Repo) Prune(ctx context.Context, k Retention) (*PruneReport, error) {
	ms, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	keep := k.Keep(ms)
	rep := &PruneReport{Kept: len(keep)}
	used := map[string]bool{}
	for _, m := range ms {
		if keep[m.ID] {
			for _, s := range m.Stores {
				for _, f := range s.Files {
					for _, p := range f.Parts {
						used[p.ID] = true
					}
				}
			}
			continue
		}
		if err := r.target.Delete(ctx, manifestName(m.ID)); err != nil {
			return rep, fmt.Errorf("deleting backup %s: %w", m.ID, err)
		}
		rep.Backups++
	}
	objs, err := r.target.List(ctx, "parts/")
	if err != nil {
		return rep, fmt.Errorf("listing parts: %w", err)
	}
	cutoff := time.Now().Add(-k.Grace)
	for _, o := range objs {
		if used[path.Base(o.Name)] || o.Modified.After(cutoff) {
			continue
		}
		if err := r.target.Delete(ctx, o.Name); err != nil {
			return rep, fmt.Errorf("deleting %s: %w", o.Name, err)
		}
		rep.Parts++
		rep.Bytes += o.Size
	}
	return rep, nil
}
