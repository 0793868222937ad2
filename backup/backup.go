// Package backup keeps a deployment's data safe from the loss of its instance: consistent snapshots of
// every store, kept content-addressed in a Target (a private bucket, or a directory), verified, pruned,
// and restored.
//
// Layout of a target:
//
//	parts/<id[:2]>/<id>     a chunk of some store's file: gzip, then AES-256-GCM when a key is set;
//	                        id is the SHA-256 of the plain chunk (an HMAC of it under the key when
//	                        encrypted, so ids say nothing about content); stored once, shared by backups
//	manifests/<id>.json     one backup: every store's files as lists of parts, with sizes and digests;
//	                        written last, so a backup without a manifest does not exist
//	status/verify.json      the last verify's outcome (doctor reports it)
//
// Files are cut into chunks where their content says (a rolling hash), so an append to a dump or a
// changed page of a database file only stores the chunks around it, and memory stays at a few chunks
// whatever the data's size.
package backup

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"time"
)

// Target is where backups are kept: a flat namespace of named objects.
type Target interface {
	// Put stores r under name. The object appears whole or not at all.
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// Get reads an object; a missing one is ErrNotFound.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// List names the objects under prefix, in any order.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes an object; a missing one is no error.
	Delete(ctx context.Context, name string) error
	// Describe says where the target is, for people.
	Describe() string
}

// Object is one entry of a Target's listing.
type Object struct {
	Name     string
	Size     int64
	Modified time.Time
}

// ErrNotFound is a Target's answer for a missing object.
var ErrNotFound = errors.New("not found")

// Store is one store of a deployment's data, as backup sees it.
type Store interface {
	// Name is the store's name in manifests: video, drawings, album.
	Name() string
	// Kind is the technology its dump is for (mysql, sqlite, mongo, files): a restore refuses a
	// backup of another kind.
	Kind() string
	// Dump writes the store's content through w, consistent as of one moment, and returns the Mark
	// of that moment.
	Dump(ctx context.Context, w Writer) (Mark, error)
	// Newer describes data the store holds that is newer than the backup's (a row whose id or time is
	// past its Mark, a file it does not have); "" when there is none.
	Newer(ctx context.Context, was *StoreEntry) (string, error)
	// Restore replaces the store's content with the files of a backup. Running it again after it was
	// killed midway ends in the same state.
	Restore(ctx context.Context, r Reader) error
}

// Checker is a Store that can also check a backup's files load, without touching its data (a
// scratch table, a scratch file).
type Checker interface {
	Check(ctx context.Context, r Reader) error
}

// Mark is what a store's newest data was when it was dumped: per table or collection, the largest id or
// time. Newer compares against it.
type Mark map[string]int64

// Writer takes one store's files during Dump.
type Writer interface {
	// Add stores a file read from r.
	Add(name string, mode fs.FileMode, r io.Reader) error
	// AddFile stores the file at path, reusing the last backup's parts when its size and modification
	// time are unchanged.
	AddFile(name, path string) error
}

// Reader gives back one store's files during Restore.
type Reader interface {
	// Files are the store's files, in the order they were added.
	Files() []File
	// Open reads a file back; its parts are checked against the manifest as they are read, and a
	// mismatch is an error of the read.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// Manifest is one backup.
type Manifest struct {
	Version   int          `json:"version"`
	ID        string       `json:"id"`
	Created   time.Time    `json:"created"`
	Host      string       `json:"host,omitempty"`
	Encrypted bool         `json:"encrypted"`
	KeyID     string       `json:"key_id,omitempty"` // which key, never the key
	Stores    []StoreEntry `json:"stores"`
	Size      int64        `json:"size"`   // plain bytes of every file
	Stored    int64        `json:"stored"` // bytes of the parts this backup added to the target
}

// StoreEntry is one store in a manifest.
type StoreEntry struct {
	Name  string `json:"name"`
	Kind  string `json:"kind,omitempty"`
	Mark  Mark   `json:"mark"`
	Files []File `json:"files"`
}

// File is one file of a store: its parts in order.
type File struct {
	Name     string    `json:"name"`
	Mode     uint32    `json:"mode"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"` // digest of the whole plain file: SHA-256, or HMAC-SHA-256 under the key
	Modified time.Time `json:"modified,omitzero"`
	Parts    []Part    `json:"parts"`
}

// Part is one stored chunk.
type Part struct {
	ID     string `json:"id"`     // the digest of its plain bytes
	Size   int64  `json:"size"`   // plain
	Stored int64  `json:"stored"` // as stored
}

// Store returns the manifest's entry for a store.
func (m *Manifest) Store(name string) (*StoreEntry, bool) {
	for i := range m.Stores {
		if m.Stores[i].Name == name {
			return &m.Stores[i], true
		}
	}
	return nil, false
}

// Stream adds a file that fn writes, through a pipe: the store goes on writing while the writer cuts
// and stores parts, so nothing is held whole in memory or on disk.
func Stream(w Writer, name string, mode fs.FileMode, fn func(*bufio.Writer) error) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- w.Add(name, mode, pr) }()
	bw := bufio.NewWriterSize(pw, 256<<10)
	err := fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	pw.CloseWithError(err)
	if aerr := <-done; err == nil {
		err = aerr
	}
	return err
}
