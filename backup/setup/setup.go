// Package setup is the one constructor of backups: Open builds the target and the stores a
// deployment's configuration names, from plain options, as provision/deploy does for provision.
package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/qcloud-applet/applet/backup"
	bcos "github.com/qcloud-applet/applet/backup/cos"
	"github.com/qcloud-applet/applet/backup/dir"
	"github.com/qcloud-applet/applet/backup/files"
	"github.com/qcloud-applet/applet/backup/mongo"
	"github.com/qcloud-applet/applet/backup/mysql"
	"github.com/qcloud-applet/applet/backup/sqlite"
	"github.com/qcloud-applet/applet/internal/hint"
	"github.com/qcloud-applet/applet/internal/rolecred"
	"github.com/qcloud-applet/applet/serve/cos"
	"golang.org/x/sys/unix"
)

// Options say where backups go and which stores the deployment uses.
type Options struct {
	// Where: a directory, or a bucket with the credentials to use it.
	Dir            string
	Bucket, Prefix string
	Region         string
	COSEndpoint    string
	Credentials    rolecred.Source
	KeyFile        string // encryption key; "" for none

	// The stores: exactly one of MySQLDSN and VideoSQLite, of MongoURI and DrawingsSQLite; AlbumDir
	// when the album is on local disk (a COS album is already in a durable bucket).
	MySQLDSN                string
	VideoSQLite             string
	MongoURI, MongoDatabase string
	MongoCollection         string
	DrawingsSQLite          string
	AlbumDir                string

	Host string // recorded in manifests
}

// Backups is an opened set of backups with the deployment's stores.
type Backups struct {
	*backup.Repo
	Stores  []backup.Store
	closers []func() error
}

// Close releases the stores' connections.
func (b *Backups) Close() error {
	var errs []error
	for _, c := range b.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// Open builds the target and the stores; it connects to nothing yet.
func Open(o Options) (*Backups, error) {
	var t backup.Target
	var err error
	if o.Dir != "" {
		t, err = dir.New(o.Dir)
	} else {
		c := cos.Config{Bucket: o.Bucket, Region: o.Region, Endpoint: o.COSEndpoint, Credentials: o.Credentials}
		t, err = bcos.New(c, o.Prefix)
	}
	if err != nil {
		return nil, err
	}
	var key *backup.Key
	if o.KeyFile != "" {
		if key, err = backup.ReadKeyFile(o.KeyFile); err != nil {
			return nil, fmt.Errorf("backup.encryption_key_file: %w", err)
		}
	}
	b := &Backups{Repo: backup.New(t, key)}
	switch {
	case o.MySQLDSN != "":
		s, err := mysql.New("video", o.MySQLDSN)
		if err != nil {
			return nil, err
		}
		b.Stores, b.closers = append(b.Stores, s), append(b.closers, s.Close)
	case o.VideoSQLite != "":
		b.Stores = append(b.Stores, sqlite.New("video", o.VideoSQLite))
	}
	switch {
	case o.MongoURI != "":
		s, err := mongo.New("drawings", o.MongoURI, o.MongoDatabase, o.MongoCollection)
		if err != nil {
			b.Close()
			return nil, err
		}
		b.Stores, b.closers = append(b.Stores, s), append(b.closers, s.Close)
	case o.DrawingsSQLite != "":
		b.Stores = append(b.Stores, sqlite.New("drawings", o.DrawingsSQLite))
	}
	if o.AlbumDir != "" {
		b.Stores = append(b.Stores, files.New("album", o.AlbumDir))
	}
	return b, nil
}

// ServeLock is the file in a data directory that every `applet serve` using it holds a shared lock
// on, and a restore an exclusive one.
const ServeLock = ".applet-serve.lock"

// ErrInUse is a restore's answer while a server uses the data directory.
var ErrInUse = hint.New(errors.New("an applet serve is using this data directory"),
	"stop applet serve for the restore (on a host, restore stops the backends itself), or wait for the restore that holds it")

// LockDataDir takes the data directory's lock: shared for a server, exclusive (and not waiting)
// for a restore. The lock goes with the process, so a killed one leaves nothing to clean.
func LockDataDir(dataDir string, exclusive bool) (release func(), err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dataDir, ServeLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_SH | unix.LOCK_NB
	if exclusive {
		how = unix.LOCK_EX | unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dataDir, ErrInUse)
		}
		return nil, fmt.Errorf("locking %s: %w", dataDir, err)
	}
	return func() { f.Close() }, nil
}

// Run backs up every store, then deletes what the retention does not keep, saying what it did on out.
func (b *Backups) Run(ctx context.Context, host string, keep backup.Retention, out io.Writer) error {
	m, err := b.Backup(ctx, b.Stores, host)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "backup %s: %s of data, %s new in %s\n", m.ID, backup.Bytes(m.Size), backup.Bytes(m.Stored), b.Describe())
	rep, err := b.Prune(ctx, keep)
	if err != nil {
		return fmt.Errorf("pruning: %w", err)
	}
	fmt.Fprintf(out, "kept %d backups; deleted %d and %d unused parts (%s)\n", rep.Kept, rep.Backups, rep.Parts, backup.Bytes(rep.Bytes))
	return nil
}

// WriteList prints the backups with their age and size, and the last verify's outcome.
func (b *Backups) WriteList(ctx context.Context, out io.Writer) error {
	ms, err := b.List(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-24s %-6s %10s %10s  %s\n", "BACKUP", "AGE", "SIZE", "ADDED", "HOST")
	for _, m := range ms {
		fmt.Fprintf(out, "%-24s %-6s %10s %10s  %s\n", m.ID, Age(time.Since(m.Created)), backup.Bytes(m.Size), backup.Bytes(m.Stored), m.Host)
	}
	st, err := b.LastVerify(ctx)
	switch {
	case err != nil:
		return err
	case st == nil:
		fmt.Fprintln(out, "never verified: run applet backup verify")
	case st.OK:
		fmt.Fprintf(out, "last verify passed %s ago\n", Age(time.Since(st.Time)))
	default:
		fmt.Fprintf(out, "last verify FAILED %s ago: %s\n", Age(time.Since(st.Time)), st.Error)
	}
	return nil
}

// Age is a duration for people: minutes, then hours, then days.
func Age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// VerifyWhich verifies one backup by id, the latest, or all of them.
func (b *Backups) VerifyWhich(ctx context.Context, which string, out io.Writer) error {
	ms, err := b.List(ctx)
	if err == nil && which != "all" {
		var m *backup.Manifest
		m, err = b.Load(ctx, which)
		ms = []*backup.Manifest{m}
	}
	if err != nil {
		return err
	}
	if err := b.Verify(ctx, ms, b.Stores); err != nil {
		return err
	}
	fmt.Fprintf(out, "verified %d backups in %s\n", len(ms), b.Describe())
	return nil
}

// RestoreOptions say which backup to restore and around what.
type RestoreOptions struct {
	From    string // an id, or latest
	Force   bool
	DataDir string // locked exclusively while the restore writes
	// WhileStopped runs the restore with the backends stopped (a host); nil runs it as it is.
	WhileStopped func(func() error) error
}

// Restore puts every store back from a backup, refusing while a server uses the data directory.
func (b *Backups) Restore(ctx context.Context, o RestoreOptions, out io.Writer) error {
	m, err := b.Load(ctx, o.From)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "restoring backup %s (made %s on %s) from %s\n", m.ID, m.Created.Format("2006-01-02 15:04 MST"), m.Host, b.Describe())
	run := func() error {
		release, err := LockDataDir(o.DataDir, true)
		if err != nil {
			return err
		}
		defer release()
		return b.Repo.Restore(ctx, m, b.Stores, o.Force)
	}
	if o.WhileStopped != nil {
		err = o.WhileStopped(run)
	} else {
		err = run()
	}
	if err == nil {
		fmt.Fprintf(out, "restored backup %s\n", m.ID)
	}
	return err
}
