// Package atomicfile writes files so that a reader sees the old content or the new, never half: a
// temporary file in the same directory, synced, then renamed over the target.
package atomicfile

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Write replaces path with data, with the mode.
func Write(path string, data []byte, mode os.FileMode) error {
	return WriteFrom(path, bytes.NewReader(data), mode, time.Time{})
}

// WriteFrom replaces path with what r holds, streamed, with the mode and, when set, the modification
// time; the directory is synced after the rename so the new name survives a crash.
func WriteFrom(path string, r io.Reader, mode os.FileMode, modified time.Time) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // nothing left after the rename
	err = tmp.Chmod(mode)
	if err == nil {
		_, err = io.Copy(tmp, r)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && !modified.IsZero() {
		err = os.Chtimes(tmp.Name(), modified, modified)
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
