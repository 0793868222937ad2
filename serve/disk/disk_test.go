package disk_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/disk"
	"github.com/qcloud-applet/applet/serve/storetest"
)

func fixture(t *testing.T) storetest.AlbumFixture {
	s, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(s.SpoolDir(), 0o700)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.URL.Path, album.BasePath+disk.FilesPath)
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.ServeFile(w, r, key)
	}))
	t.Cleanup(ts.Close)
	return storetest.AlbumFixture{Storage: s, SpoolDir: s.SpoolDir(), Fetch: func(t *testing.T, u string) (int, []byte, string) {
		resp, err := http.Get(ts.URL + u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, resp.Header.Get("Content-Type")
	}}
}

func TestDiskStorage(t *testing.T) { storetest.RunAlbumStorage(t, fixture) }

func TestServeFileRangesAndValidators(t *testing.T) {
	dir := t.TempDir()
	s, _ := disk.New(dir)
	os.MkdirAll(s.SpoolDir(), 0o700)
	key := album.NewKey("photos/", "jpg", time.Now())
	f, _ := os.CreateTemp(s.SpoolDir(), ".upload-*")
	f.WriteString("\xff\xd8\xff0123456789")
	f.Seek(0, 0)
	if err := s.Put(t.Context(), key, album.Spool{File: f, Size: 13, ContentType: "image/jpeg"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		t.Fatal("the spool should have been renamed into place")
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "photos", "*", "*")); len(matches) != 1 {
		t.Fatalf("files on disk: %v", matches)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.ServeFile(w, r, key) }))
	defer ts.Close()

	resp, _ := http.Get(ts.URL)
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	resp.Body.Close()
	if resp.StatusCode != 200 || etag == "" || lm == "" || resp.Header.Get("Content-Type") != "image/jpeg" || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("GET: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ := http.NewRequest("GET", ts.URL, nil)
	req.Header.Set("Range", "bytes=3-6")
	resp, _ = http.DefaultClient.Do(req)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || string(b) != "0123" || resp.Header.Get("Content-Range") != "bytes 3-6/13" {
		t.Fatalf("range: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	req, _ = http.NewRequest("GET", ts.URL, nil)
	req.Header.Set("If-None-Match", etag)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", ts.URL, nil)
	req.Header.Set("If-Modified-Since", lm)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 304 {
		t.Fatalf("If-Modified-Since: %d", resp.StatusCode)
	}
}

func TestKeyFromPathRefusesOtherPaths(t *testing.T) {
	s, _ := disk.New(t.TempDir())
	for _, p := range []string{"/photos/9999999999999-abcdefgh.jpg", album.BasePath + "/files/../../etc/passwd", album.BasePath + "/files/photos/x.jpg", "/applet/album/files/"} {
		if k, ok := s.KeyFromPath(p); ok {
			t.Errorf("KeyFromPath(%q) = %q", p, k)
		}
	}
}

// A link planted in the album folder is never followed: not for serving, not for deleting, whether
// it is the image itself or its shard folder, and whether it points outside the folder or inside.
func TestLinksAreNeverFollowed(t *testing.T) {
	dir := t.TempDir()
	s, _ := disk.New(dir)
	outside := filepath.Join(t.TempDir(), "secret.jpg")
	os.WriteFile(outside, []byte("\xff\xd8\xffsecret"), 0o644)
	outsideDir := filepath.Dir(outside)

	fileKey := album.NewKey("photos/", "jpg", time.Now())
	name := strings.TrimPrefix(fileKey, "photos/")
	shard := filepath.Join(dir, "photos", name[:5])
	os.MkdirAll(shard, 0o755)
	os.Symlink(outside, filepath.Join(shard, name[5:]))

	// A shard folder that is a link to a folder outside holding a file of the right name.
	other := album.NewKey("photos/", "jpg", time.Now().Add(24*time.Hour))
	oname := strings.TrimPrefix(other, "photos/")
	os.WriteFile(filepath.Join(outsideDir, oname[5:]), []byte("\xff\xd8\xffsecret"), 0o644)
	os.Symlink(outsideDir, filepath.Join(dir, "photos", oname[:5]))

	for _, key := range []string{fileKey, other} {
		rec := httptest.NewRecorder()
		s.ServeFile(rec, httptest.NewRequest("GET", "/x", nil), key)
		if rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("%s: served through a link: %d %q", key, rec.Code, rec.Body.String())
		}
		if err := s.Delete(t.Context(), key); err != album.ErrNotFound {
			t.Errorf("%s: delete through a link: %v", key, err)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatal("the file outside was deleted")
	}
	if _, err := os.Lstat(filepath.Join(shard, name[5:])); err != nil {
		t.Fatal("the planted link itself was removed instead of refused")
	}
	if _, err := os.Stat(filepath.Join(outsideDir, oname[5:])); err != nil {
		t.Fatal("the file behind the linked shard was deleted")
	}
}
