package provision

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/qcloud-applet/applet/backup"
)

// StepVault is the deployment's private backup bucket.
const StepVault = "backup-bucket"

// Vault is the deployment's private backup bucket: never readable by URL, so that no backup is, and
// apart from the album's bucket, so that destroy --force on the album never touches a backup.
type Vault interface {
	Name() string
	Bucket(ctx context.Context) (BucketState, error)
	// CreateBucket makes a private bucket carrying the tags from the start.
	CreateBucket(ctx context.Context, tags map[string]string) error
	SetPrivate(ctx context.Context) error
	SetTags(ctx context.Context, tags map[string]string) error
	// List names the objects under prefix.
	List(ctx context.Context, prefix string) ([]string, error)
	Empty(ctx context.Context) error
	DeleteBucket(ctx context.Context) error
}

func (p *Provisioner) planVault(ctx context.Context, rd *reads) {
	if p.deps.Vault == nil {
		rd.set(Change{StepVault, Skip, "no backup bucket: set backup.to: cos://<name>-<appid> (or cos.bucket, whose appid names one)"})
		return
	}
	rd.run(func() {
		b, name, ok := p.readVault(ctx, rd)
		if !ok {
			return
		}
		if b.Exists {
			ids, err := p.backups(ctx)
			if err != nil {
				rd.fail(StepVault, err)
				return
			}
			rd.mu.Lock()
			rd.plan.Backups = ids
			rd.mu.Unlock()
		}
		switch {
		case b.Exists && b.Tags[TagKey] != "" && b.Tags[TagKey] != p.cfg.Deployment:
			rd.fail(StepVault, fmt.Errorf("bucket %s belongs to deployment %q: name another in backup.to", name, b.Tags[TagKey]))
			return
		case !b.Exists:
			rd.set(Change{StepVault, Create, name + " private, for the backups"})
			return
		}
		var todo []string
		if b.PublicRead || b.PublicWrite {
			todo = append(todo, "make it private (it holds backups)")
		}
		if b.Tags[TagKey] != p.cfg.Deployment {
			todo = append(todo, "tag it "+p.remark())
		}
		if len(todo) == 0 {
			rd.set(Change{StepVault, Keep, name})
		} else {
			rd.set(Change{StepVault, Update, name + ": " + strings.Join(todo, ", ")})
		}
	})
}

// readVault reads the backup bucket's state into the plan.
func (p *Provisioner) readVault(ctx context.Context, rd *reads) (BucketState, string, bool) {
	b, err := p.deps.Vault.Bucket(ctx)
	if err != nil {
		rd.fail(StepVault, err)
		return b, "", false
	}
	rd.mu.Lock()
	rd.plan.seen.vault = b
	rd.mu.Unlock()
	return b, p.deps.Vault.Name(), true
}

func (p *Provisioner) applyVault(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepVault)
	v := p.deps.Vault
	switch c.Action {
	case Skip:
		return "skipped", c.Detail, nil
	case Keep:
		return "ok", v.Name(), nil
	case Create:
		if err := v.CreateBucket(ctx, p.tags()); err != nil {
			return "", "", fmt.Errorf("creating the backup bucket: %w", err)
		}
		return "created", v.Name() + " private", nil
	}
	b := plan.seen.vault
	if b.PublicRead || b.PublicWrite {
		if err := v.SetPrivate(ctx); err != nil {
			return "", "", fmt.Errorf("making the backup bucket private: %w", err)
		}
	}
	if b.Tags[TagKey] != p.cfg.Deployment {
		if err := v.SetTags(ctx, p.tags()); err != nil {
			return "", "", fmt.Errorf("tagging the backup bucket: %w", err)
		}
	}
	return "updated", c.Detail, nil
}

// planDestroyVault keeps the backups unless PurgeBackups: they are what brings the deployment back.
func (p *Provisioner) planDestroyVault(ctx context.Context, rd *reads, opts DestroyOptions) {
	if p.deps.Vault == nil {
		return
	}
	rd.run(func() {
		b, name, ok := p.readVault(ctx, rd)
		if !ok {
			return
		}
		switch {
		case !b.Exists:
			rd.set(Change{StepVault, Skip, "none"})
		case b.Tags[TagKey] != p.cfg.Deployment:
			rd.set(Change{StepVault, Skip, name + " does not carry " + p.remark() + ": left alone"})
		case !opts.PurgeBackups:
			rd.set(Change{StepVault, Skip, name + ": the backups are kept (--purge-backups deletes them)"})
			rd.mu.Lock()
			rd.plan.Kept = append(rd.plan.Kept, "backup bucket "+name+" and its backups (--purge-backups deletes them)")
			rd.mu.Unlock()
		default:
			rd.set(Change{StepVault, Delete, name + " and every backup in it"})
		}
	})
}

func (p *Provisioner) destroyVault(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepVault)
	if c.Action != Delete {
		return "skipped", c.Detail, nil
	}
	if err := p.deps.Vault.Empty(ctx); err != nil {
		return "", "", fmt.Errorf("emptying the backup bucket: %w", err)
	}
	if err := p.deps.Vault.DeleteBucket(ctx); err != nil {
		return "", "", fmt.Errorf("deleting the backup bucket: %w", err)
	}
	return "deleted", c.Detail, nil
}

// censusVault names the backup bucket when a destroy that should have removed it did not.
func (p *Provisioner) censusVault(ctx context.Context, plan *Plan) ([]string, error) {
	if p.deps.Vault == nil || !plan.destroyOpts.PurgeBackups {
		return nil, nil
	}
	b, err := p.deps.Vault.Bucket(ctx)
	if err != nil {
		return nil, err
	}
	if b.Exists && b.Tags[TagKey] == p.cfg.Deployment {
		return []string{"backup bucket " + p.deps.Vault.Name()}, nil
	}
	return nil, nil
}

// backups lists the backups in the vault by id, oldest first (ids sort by time).
func (p *Provisioner) backups(ctx context.Context) ([]string, error) {
	keys, err := p.deps.Vault.List(ctx, p.cfg.BackupPrefix+backup.ManifestDir)
	if err != nil {
		return nil, fmt.Errorf("listing backups: %w", err)
	}
	var ids []string
	for _, k := range keys {
		if id, ok := backup.ManifestID(k); ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// NewInstance says whether applying the plan creates an instance (a first one, or a replacement).
func (p *Plan) NewInstance() bool {
	if p.several {
		return false // the stores are shared servers: a new instance has nothing of its own to restore
	}
	a := p.change(StepInstance).Action
	return a == Create || a == Replace
}

// ChooseRestore settles which backup a new instance gets from --restore's value: latest, an id, or
// none; "" when there is no new instance or no backup. The note says what was chosen, for people.
func (p *Plan) ChooseRestore(flag string) (note string, err error) {
	if !p.NewInstance() || len(p.Backups) == 0 {
		return "", nil
	}
	latest := p.Backups[len(p.Backups)-1]
	switch flag {
	case "latest":
		p.Restore = latest
	case "none":
		return fmt.Sprintf("The new instance starts empty: %d backups exist (latest %s), --restore=none.", len(p.Backups), latest), nil
	case "":
		return fmt.Sprintf("The new instance starts empty: %d backups exist (latest %s); run again with --restore=latest (or an id) to bring the data back.", len(p.Backups), latest), nil
	default:
		if !slices.Contains(p.Backups, flag) {
			return "", fmt.Errorf("--restore=%s: no such backup; the latest is %s (applet backup list shows them all)", flag, latest)
		}
		p.Restore = flag
	}
	return "The new instance gets backup " + p.Restore + " restored before its backends start.", nil
}
