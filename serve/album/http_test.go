package album_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/cos"
	"github.com/qcloud-applet/applet/serve/disk"
)

type env struct {
	ts      *httptest.Server
	spool   string
	root    string
	storage album.Storage
}

func newEnv(t testing.TB, storage album.Storage, spool string) *env {
	t.Helper()
	app, err := album.New(album.Options{Storage: storage, SpoolDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(serve.New(serve.Options{}).Handler([]serve.App{app}))
	t.Cleanup(ts.Close)
	return &env{ts: ts, spool: spool, storage: storage}
}

func diskEnv(t *testing.T) *env { return diskEnvB(t) }

func diskEnvB(t testing.TB) *env {
	root := t.TempDir()
	s, err := disk.New(root)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, s, s.SpoolDir())
	e.root = root
	return e
}

func jsonDecode(resp *http.Response, v any) {
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(v)
}

func pngBytes(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t *testing.T) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// multipartBody is what wx.uploadFile sends: one file field.
func multipartBody(t *testing.T, field, filename string, data []byte) (string, []byte) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("user", "someone")
	if field != "" {
		part, err := w.CreateFormFile(field, filename)
		if err != nil {
			t.Fatal(err)
		}
		part.Write(data)
	}
	w.Close()
	return w.FormDataContentType(), b.Bytes()
}

type reply struct {
	Code  int             `json:"code"`
	Msg   string          `json:"msg"`
	Data  json.RawMessage `json:"data"`
	Next  string          `json:"next"`
	Error *struct{ Field, Reason string }
}

func (e *env) post(t *testing.T, path, ctype string, body io.Reader) reply {
	t.Helper()
	resp, err := http.Post(e.ts.URL+album.BasePath+path, ctype, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r reply
	if resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil {
		t.Fatalf("POST %s: HTTP %d %s", path, resp.StatusCode, b)
	}
	return r
}

func (e *env) upload(t *testing.T, field, name string, data []byte) reply {
	ct, body := multipartBody(t, field, name, data)
	return e.post(t, "/upload", ct, bytes.NewReader(body))
}

func (e *env) list(t *testing.T, query string) (reply, []string) {
	t.Helper()
	resp, err := http.Get(e.ts.URL + album.BasePath + "/list" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reply
	json.NewDecoder(resp.Body).Decode(&r)
	var urls []string
	json.Unmarshal(r.Data, &urls)
	return r, urls
}

// noLeftovers fails if a spool file or a stored object remains (after in-flight handlers finish).
func (e *env) noLeftovers(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		spools, _ := filepath.Glob(filepath.Join(e.spool, ".upload-*"))
		keys, _, _ := e.storage.List(context.Background(), "photos/", "", 10)
		if len(spools) == 0 && len(keys) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: spool files %v, objects %v", spools, keys)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUploadRejectsBadInput(t *testing.T) {
	e := diskEnv(t)
	pngData := pngBytes(t)
	big := append(jpegBytes(t), bytes.Repeat([]byte{0}, 5<<20)...)[:5<<20+1]
	cases := []struct {
		name, field, file string
		data              []byte
		msg               string
	}{
		{"missing field", "", "", nil, "参数错误"},
		{"wrong field name", "file", "a.png", pngData, "参数错误"},
		{"zero-byte file", "image", "a.png", nil, "参数错误"},
		{"text renamed .jpg", "image", "a.jpg", []byte("hello, this is not an image at all"), "仅jpg/png格式"},
		{"PNG header then garbage", "image", "a.png", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte("garbage!"), 100)...), "仅jpg/png格式"},
		{"GIF not enabled", "image", "a.gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), "仅jpg/png格式"},
		{"5 MB + 1 byte", "image", "a.jpg", big, "单个不超过5MB"},
	}
	for _, c := range cases {
		r := e.upload(t, c.field, c.file, c.data)
		if r.Code != -1 || r.Msg != c.msg || string(r.Data) != "{}" {
			t.Errorf("%s: %+v, want code -1 msg %s", c.name, r, c.msg)
		}
	}
	// No boundary, not multipart at all.
	for _, ct := range []string{"multipart/form-data", "application/json", ""} {
		if r := e.post(t, "/upload", ct, strings.NewReader(`{"image":"x"}`)); r.Code != -1 || r.Msg != "参数错误" {
			t.Errorf("content type %q: %+v", ct, r)
		}
	}
	e.noLeftovers(t)

	// Exactly the limit is accepted: the extension follows the real type, not the file name.
	exact := append(jpegBytes(t), bytes.Repeat([]byte{0}, 5<<20)...)[:5<<20]
	r := e.upload(t, "image", "photo.png", exact)
	var d struct{ ImgURL string }
	json.Unmarshal(r.Data, &d)
	if r.Code != 0 || !strings.HasSuffix(d.ImgURL, ".jpg") {
		t.Fatalf("5 MB exactly: %+v", r)
	}
}

// A 1 GB body is cut off early: the server answers after reading little more than the limit, memory
// stays flat and nothing is left behind.
func TestHugeUploadIsCutOffEarly(t *testing.T) {
	e := diskEnv(t)
	var sent atomic.Int64
	pr, pw := io.Pipe()
	w := multipart.NewWriter(pw)
	ct := w.FormDataContentType()
	go func() {
		part, _ := w.CreateFormFile("image", "huge.jpg")
		part.Write(jpegBytes(t))
		chunk := bytes.Repeat([]byte{0xAB}, 64<<10)
		for sent.Load() < 1<<30 {
			n, err := part.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
		w.Close()
		pw.Close()
	}()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	resp, err := http.Post(e.ts.URL+album.BasePath+"/upload", ct, pr)
	close(stop)
	pr.CloseWithError(io.ErrClosedPipe)
	if err == nil {
		var r reply
		json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if r.Code != -1 || r.Msg != "单个不超过5MB" {
			t.Fatalf("reply %+v", r)
		}
	} // else: the server closed the connection while the client was still sending, also a cut-off
	t.Logf("client got through %d MB of 1024 before the cut-off; heap grew %d MB", sent.Load()>>20, (int64(peak.Load())-int64(base.HeapInuse))>>20)
	if s := sent.Load(); s > 64<<20 {
		t.Fatalf("the server read %d MB before cutting the upload off", s>>20)
	}
	if grow := int64(peak.Load()) - int64(base.HeapInuse); grow > 48<<20 {
		t.Fatalf("heap grew by %d MB during the upload", grow>>20)
	}
	e.noLeftovers(t)
}

// A client that disconnects mid-upload leaves no object and no spool file.
func TestClientDisconnectMidUpload(t *testing.T) {
	e := diskEnv(t)
	ct, body := multipartBody(t, "image", "a.jpg", append(jpegBytes(t), bytes.Repeat([]byte{1}, 1<<20)...))
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST %s/upload HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", album.BasePath, ct, len(body))
	conn.Write(body[:len(body)/2])
	time.Sleep(100 * time.Millisecond) // the server is now mid-copy
	conn.Close()
	e.noLeftovers(t)
}

func TestListNewestFirstAndPaged(t *testing.T) {
	e := diskEnv(t)
	var urls []string
	for i := 0; i < 5; i++ {
		r := e.upload(t, "image", "a.png", pngBytes(t))
		var d struct{ ImgURL string }
		json.Unmarshal(r.Data, &d)
		urls = append([]string{d.ImgURL}, urls...)
		time.Sleep(2 * time.Millisecond) // distinct milliseconds, so order is by time
	}
	r, got := e.list(t, "")
	if r.Code != 0 || r.Msg != "ok" || strings.Join(got, ",") != strings.Join(urls, ",") || r.Next != "" {
		t.Fatalf("list = %+v %v\nwant %v", r, got, urls)
	}
	r, page1 := e.list(t, "?limit=2")
	if len(page1) != 2 || r.Next == "" {
		t.Fatalf("page 1: %+v", r)
	}
	r2, page2 := e.list(t, "?limit=2&marker="+url.QueryEscape(r.Next))
	r3, page3 := e.list(t, "?limit=2&marker="+url.QueryEscape(r2.Next))
	all := append(append(page1, page2...), page3...)
	if strings.Join(all, ",") != strings.Join(urls, ",") || r3.Next != "" {
		t.Fatalf("paged %v, want %v", all, urls)
	}
	for _, q := range []string{"?limit=0", "?limit=101", "?limit=x", "?marker=../../etc"} {
		if r, _ := e.list(t, q); r.Code != -1 || r.Msg != "failed" {
			t.Errorf("%s: %+v", q, r)
		}
	}
}

func TestDeleteMapsThePathAndRefusesTheRest(t *testing.T) {
	e := diskEnv(t)
	up := func() (string, string) {
		r := e.upload(t, "image", "a.png", pngBytes(t))
		var d struct{ ImgURL string }
		json.Unmarshal(r.Data, &d)
		u, _ := url.Parse(d.ImgURL)
		return d.ImgURL, u.Path
	}
	del := func(ctype, body string) reply {
		return e.post(t, "/delete", ctype, strings.NewReader(body))
	}
	_, p := up()
	if r := del("application/json", `{"filepath":"`+p+`"}`); r.Code != 0 || r.Msg != "ok" {
		t.Fatalf("delete by JSON path: %+v", r)
	}
	r := del("application/json", `{"filepath":"`+p+`"}`)
	if r.Code != -1 || !strings.Contains(string(r.Data), `"name":"NotFound"`) {
		t.Fatalf("second delete must fail, not succeed silently: %+v %s", r, r.Data)
	}
	_, p = up()
	if r := del("application/x-www-form-urlencoded", "filepath="+url.QueryEscape(url.PathEscape(p))); r.Code != 0 {
		t.Fatalf("delete by urlencoded, URI-encoded path: %+v %s", r, r.Data)
	}
	full, _ := up()
	if r := del("application/json", `{"filepath":"`+full+`"}`); r.Code != 0 {
		t.Fatalf("delete by this album's own URL: %+v %s", r, r.Data)
	}
	_, p = up()
	for _, bad := range []string{
		strings.Replace(p, "photos/", "photos/../", 1),
		album.BasePath + "/files/../../../etc/passwd",
		"https://evil.example" + p,
		strings.Replace(p, "photos/", "other/", 1),
		"/photos/../" + p,
		"%zz",
		"photos/x.jpg",
		p + "/",
	} {
		body, _ := json.Marshal(map[string]string{"filepath": bad})
		r := del("application/json", string(body))
		if r.Code != -1 || !strings.Contains(string(r.Data), "operation forbidden") {
			t.Errorf("filepath %q: %+v %s", bad, r, r.Data)
		}
	}
	if r := del("application/json", `{}`); r.Code != -1 {
		t.Errorf("missing filepath: %+v", r)
	}
	if keys, _, _ := e.storage.List(context.Background(), "photos/", "", 10); len(keys) != 1 {
		t.Fatalf("refused deletes removed something: %v", keys)
	}
}

func cosEnv(t *testing.T) (*env, *cosfake.Server) {
	srv, err := cosfake.New("AKIDalbum", "album-secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.CreateBucket("album-1250000000", "public-read")
	s, err := cos.New(cos.Config{Bucket: "album-1250000000", Region: "ap-guangzhou", SecretID: "AKIDalbum", SecretKey: "album-secret", Endpoint: srv.Addr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, s, t.TempDir()), srv
}

func TestUploadToCOSRetriesAndFailsCleanly(t *testing.T) {
	e, srv := cosEnv(t)
	srv.FailNext(2, 500)
	r := e.upload(t, "image", "a.jpg", jpegBytes(t))
	var d struct{ ImgURL string }
	json.Unmarshal(r.Data, &d)
	if r.Code != 0 || !strings.HasPrefix(d.ImgURL, "https://album-1250000000.cos.ap-guangzhou.myqcloud.com/photos/") {
		t.Fatalf("500 twice then 200: %+v", r)
	}
	if keys := srv.Objects("album-1250000000"); len(keys) != 1 {
		t.Fatalf("objects %v", keys)
	}
	srv.FailAll(503)
	r = e.upload(t, "image", "a.jpg", jpegBytes(t))
	if r.Code != -1 || r.Msg != "图片上传失败，请稍候再试" {
		t.Fatalf("COS down: %+v", r)
	}
	if _, urls := e.list(t, ""); urls != nil {
		t.Fatalf("list while COS is down should fail, got %v", urls)
	}
	srv.Heal()
	if spools, _ := filepath.Glob(filepath.Join(e.spool, ".upload-*")); len(spools) != 0 {
		t.Fatalf("spool files left: %v", spools)
	}
	if keys := srv.Objects("album-1250000000"); len(keys) != 1 {
		t.Fatalf("a failed upload left an object: %v", keys)
	}
}
