package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/serve/album"
)

// AlbumFixture is a fresh, empty storage and a way to download what its URL points at.
type AlbumFixture struct {
	Storage album.Storage
	// SpoolDir is where the suite writes uploads, as the app would.
	SpoolDir string
	// Fetch downloads url (absolute, or a path on the album app) and returns the body and Content-Type,
	// or status 404.
	Fetch func(t *testing.T, url string) (status int, body []byte, contentType string)
}

func spool(t *testing.T, dir string, data []byte, ctype string) album.Spool {
	t.Helper()
	f, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(); os.Remove(f.Name()) })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	return album.Spool{File: f, Size: int64(len(data)), ContentType: ctype}
}

// RunAlbumStorage checks the contract documented on album.Storage.
func RunAlbumStorage(t *testing.T, newFixture func(t *testing.T) AlbumFixture) {
	ctx := context.Background()
	now := time.Now()

	t.Run("PutListFetchDelete", func(t *testing.T) {
		fx := newFixture(t)
		s := fx.Storage
		data := []byte("\x89PNG\r\n\x1a\n pretend image bytes")
		key := album.NewKey("photos/", "png", now)
		if err := s.Put(ctx, key, spool(t, fx.SpoolDir, data, "image/png")); err != nil {
			t.Fatal(err)
		}
		keys, next, err := s.List(ctx, "photos/", "", 10)
		if err != nil || len(keys) != 1 || keys[0] != key || next != "" {
			t.Fatalf("List = %v %q %v", keys, next, err)
		}
		status, body, ctype := fx.Fetch(t, s.URL(key))
		if status != 200 || !bytes.Equal(body, data) || ctype != "image/png" {
			t.Fatalf("fetch = %d %q %q", status, body, ctype)
		}
		path := s.URL(key)
		if i := strings.Index(path, "://"); i >= 0 {
			path = path[i+3:]
			path = path[strings.Index(path, "/"):]
		}
		if got, ok := s.KeyFromPath(path); !ok || got != key {
			t.Fatalf("KeyFromPath(%q) = %q, %v; want %q", path, got, ok, key)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, album.ErrNotFound) {
			t.Fatalf("second delete: %v, want ErrNotFound", err)
		}
		if keys, _, _ := s.List(ctx, "photos/", "", 10); len(keys) != 0 {
			t.Fatalf("after delete: %v", keys)
		}
		if status, _, _ := fx.Fetch(t, s.URL(key)); status != 404 {
			t.Fatalf("fetch after delete = %d", status)
		}
	})

	t.Run("NewestFirstInPages", func(t *testing.T) {
		fx := newFixture(t)
		s := fx.Storage
		var want []string
		// Uploads over three days, so local shards differ too; newest first.
		for i := 0; i < 7; i++ {
			at := now.Add(-time.Duration(i) * 11 * time.Hour)
			key := album.NewKey("photos/", "jpg", at)
			want = append(want, key)
			if err := s.Put(ctx, key, spool(t, fx.SpoolDir, []byte(fmt.Sprintf("\xff\xd8\xff %d", i)), "image/jpeg")); err != nil {
				t.Fatal(err)
			}
		}
		other := album.NewKey("other/", "jpg", now)
		if err := s.Put(ctx, other, spool(t, fx.SpoolDir, []byte("\xff\xd8\xff"), "image/jpeg")); err != nil {
			t.Fatal(err)
		}
		var got []string
		marker := ""
		for pages := 0; ; pages++ {
			keys, next, err := s.List(ctx, "photos/", marker, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) > 3 {
				t.Fatalf("page of %d keys with limit 3", len(keys))
			}
			got = append(got, keys...)
			if next == "" {
				break
			}
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			marker = next
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("paged\n%v\nwant newest first\n%v", got, want)
		}
		if keys, next, err := s.List(ctx, "photos/", "", 7); err != nil || len(keys) != 7 || next != "" {
			t.Fatalf("exact page: %d keys, next %q, %v", len(keys), next, err)
		}
		if keys, _, err := s.List(ctx, "empty/", "", 3); err != nil || len(keys) != 0 {
			t.Fatalf("empty folder: %v %v", keys, err)
		}
	})

	t.Run("Ready", func(t *testing.T) {
		if err := newFixture(t).Storage.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("SpoolIsNotLeftInStorage", func(t *testing.T) {
		fx := newFixture(t)
		key := album.NewKey("photos/", "png", now)
		sp := spool(t, fx.SpoolDir, []byte("\x89PNG\r\n\x1a\n"), "image/png")
		if err := fx.Storage.Put(ctx, key, sp); err != nil {
			t.Fatal(err)
		}
		entries, _ := filepath.Glob(filepath.Join(fx.SpoolDir, ".upload-*"))
		for _, e := range entries {
			if e != sp.File.Name() {
				t.Fatalf("stray spool file %s", e)
			}
		}
	})
}
