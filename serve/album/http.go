package album

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // DecodeConfig checks the structure of what the magic bytes claim
	_ "image/jpeg"
	_ "image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qcloud-applet/applet/serve"
)

// The original's messages, which clients show to users.
const (
	msgBadParam    = "参数错误"
	msgBadType     = "仅jpg/png格式"
	msgStoreFailed = "图片上传失败，请稍候再试"
	msgForbidden   = "operation forbidden"
)

// bodyReaders buffer upload bodies: 64 concurrent uploads hold 4 MiB.
var bodyReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

// copyBuffers are the buffers of uploads in progress: 64 concurrent uploads hold 16 MiB.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyFilled copies up to limit bytes from src to dst, filling a 256 KiB buffer before each write:
// multipart hands out at most 4 KiB per Read, and a write per Read costs more than the copy itself.
// It returns the bytes copied, a write error, and a read error other than the end of src.
func copyFilled(dst io.Writer, src io.Reader, limit int64) (n int64, werr, rerr error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for n < limit {
		chunk := buf[:min(int64(len(buf)), limit-n)]
		// Fill the chunk by hand: io.ReadFull would report a body cut short (io.ErrUnexpectedEOF from
		// the connection) exactly like a clean end, and a broken upload must never be stored.
		m := 0
		var err error
		for m < len(chunk) && err == nil {
			var k int
			k, err = src.Read(chunk[m:])
			m += k
		}
		if m > 0 {
			if _, werr := dst.Write(chunk[:m]); werr != nil {
				return n, werr, nil
			}
			n += int64(m)
		}
		if err == io.EOF {
			return n, nil, nil
		}
		if err != nil {
			return n, nil, err
		}
	}
	return n, nil, nil
}

// MaxListLimit is the largest page of /list, and the page an old client without parameters gets.
const MaxListLimit = 100

func (a *App) sizeMsg() string { return fmt.Sprintf("单个不超过%dMB", a.opts.MaxUploadMB) }

type failure struct {
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

func fail(w http.ResponseWriter, msg string, data any, f *failure) {
	if data == nil {
		data = map[string]any{}
	}
	body := map[string]any{"code": -1, "msg": msg, "data": data}
	if f != nil {
		body["error"] = f
	}
	serve.WriteJSON(w, http.StatusOK, body)
}

func (a *App) url(r *http.Request, key string) string {
	u := a.opts.Storage.URL(key)
	if strings.HasPrefix(u, "/") {
		return serve.Origin(r, a.opts.PublicURL) + u
	}
	return u
}

func (a *App) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := MaxListLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			fail(w, "failed", nil, &failure{"limit", "must be a whole number from 1 to 100"})
			return
		}
		limit = n
	}
	marker := q.Get("marker")
	if marker != "" && (!strings.HasPrefix(marker, a.opts.Folder) || !keyRE.MatchString(strings.TrimPrefix(marker, a.opts.Folder))) {
		fail(w, "failed", nil, &failure{"marker", "must be the next value of a previous page"})
		return
	}
	keys, next, err := a.opts.Storage.List(r.Context(), a.opts.Folder, marker, limit)
	if err != nil {
		serve.LoggerFrom(r.Context(), a.log).Error("listing images", "err", err)
		fail(w, "failed", nil, nil)
		return
	}
	urls := make([]string, len(keys))
	for i, k := range keys {
		urls[i] = a.url(r, k)
	}
	body := map[string]any{"code": 0, "msg": "ok", "data": urls}
	if next != "" {
		body["next"] = next
	}
	// With owner checks a client shows delete only where it may: ownerCheck says they are on, and
	// owned lists the signed-in user's images among these (extra fields the original client ignores).
	if a.opts.OwnerCheck {
		body["ownerCheck"] = true
		owned := []string{}
		if openID, ok := a.opts.Owner(r.Context()); ok {
			for i, k := range keys {
				if ownedBy(k[len(a.opts.Folder):], openID) {
					owned = append(owned, urls[i])
				}
			}
		}
		body["owned"] = owned
	}
	serve.WriteJSON(w, http.StatusOK, body)
}

// sniff names the image type of the first bytes, or "".
func (a *App) sniff(head []byte) (ext, ctype string) {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return "jpg", "image/jpeg"
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png", "image/png"
	case a.opts.AllowGIF && (bytes.HasPrefix(head, []byte("GIF87a")) || bytes.HasPrefix(head, []byte("GIF89a"))):
		return "gif", "image/gif"
	case a.opts.AllowWebP && len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return "webp", "image/webp"
	}
	return "", ""
}

// msgSignIn asks the user to sign in: with owner checks, uploads and deletes need a login.
const msgSignIn = "请先登录"

// owner returns the uploader to record, or answers that a login is needed.
func (a *App) owner(w http.ResponseWriter, r *http.Request) (string, bool) {
	if !a.opts.OwnerCheck && a.opts.CheckImage == nil {
		return "", true
	}
	openID, ok := a.opts.Owner(r.Context())
	if !ok {
		fail(w, msgSignIn, nil, &failure{"session", "sign in first: this album records who uploads each image"})
		return "", false
	}
	return openID, true
}

func (a *App) upload(w http.ResponseWriter, r *http.Request) {
	log := serve.LoggerFrom(r.Context(), a.log)
	owner, ok := a.owner(w, r)
	if !ok {
		return
	}
	client := serve.ClientIP(r, a.opts.Proxies)
	if !a.opts.OwnerCheck && !a.opts.Writes.Allow(client) {
		serve.CountRefused(a.Name(), "write rate")
		w.Header().Set("Retry-After", "60")
		w.Header().Set("Connection", "close") // the body is not read
		fail(w, msgStoreFailed, nil, &failure{"rate", "too many uploads from this address; try again in a minute"})
		return
	}
	if !a.takeSlot(client) {
		serve.CountRefused(a.Name(), "uploads")
		serve.Refuse(w, "uploads")
		return
	}
	defer a.giveSlot(client)
	max := int64(a.opts.MaxUploadMB) << 20
	// The whole body may carry a little multipart framing beyond the image; past that it is cut off.
	r.Body = http.MaxBytesReader(w, r.Body, max+1<<20)
	tooBig := func() {
		w.Header().Set("Connection", "close") // do not read the rest of a huge body
		fail(w, a.sizeMsg(), nil, &failure{"image", "larger than the limit"})
	}
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" || params["boundary"] == "" {
		fail(w, msgBadParam, nil, &failure{"body", "not multipart/form-data with a boundary"})
		return
	}
	// multipart reads through a 4 KiB bufio.Reader unless given a larger one, which it then uses as
	// is: 64 KiB reads cut the syscalls of a 5 MB upload sixteenfold.
	br := bodyReaders.Get().(*bufio.Reader)
	br.Reset(r.Body)
	defer func() { br.Reset(nil); bodyReaders.Put(br) }()
	mr := multipart.NewReader(br, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			fail(w, msgBadParam, nil, &failure{"image", "no file field named image"})
			return
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooBig()
			return
		}
		if err != nil {
			fail(w, msgBadParam, nil, &failure{"body", "malformed multipart body"})
			return
		}
		if part.FormName() != "image" {
			_, _ = io.Copy(io.Discard, part) // other fields: skipped, bounded by MaxBytesReader
			part.Close()
			continue
		}
		a.receive(w, r, part, owner, max, tooBig, log)
		return
	}
}

// receive spools the image part to a private file (memory stays bounded), checks it and stores it.
// The spool is always removed unless the storage moved it into place.
func (a *App) receive(w http.ResponseWriter, r *http.Request, part io.Reader, owner string, max int64, tooBig func(), log interface {
	Error(string, ...any)
	Warn(string, ...any)
}) {
	head := make([]byte, 512)
	n, err := io.ReadFull(part, head)
	head = head[:n]
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		a.readFailed(w, err, tooBig, log)
		return
	}
	if n == 0 {
		fail(w, msgBadParam, nil, &failure{"image", "empty file"})
		return
	}
	ext, ctype := a.sniff(head)
	if ext == "" {
		fail(w, msgBadType, nil, &failure{"image", "not a JPEG or PNG image"})
		return
	}
	f, err := os.CreateTemp(a.opts.SpoolDir, ".upload-*")
	if err != nil {
		log.Error("creating spool file", "err", err)
		fail(w, msgStoreFailed, nil, nil)
		return
	}
	moved := false
	defer func() {
		f.Close()
		if !moved {
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(head); err != nil {
		log.Error("writing spool file", "err", err)
		fail(w, msgStoreFailed, nil, nil)
		return
	}
	// Copy at most one byte past the limit: that byte proves the file is too big.
	copied, werr, err := copyFilled(f, part, max-int64(n)+1)
	size := int64(n) + copied
	if werr != nil {
		log.Error("writing spool file", "err", werr)
		fail(w, msgStoreFailed, nil, nil)
		return
	}
	if err != nil {
		a.readFailed(w, err, tooBig, log)
		return
	}
	if size > max {
		tooBig()
		return
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		log.Error("rewinding spool file", "err", err)
		fail(w, msgStoreFailed, nil, nil)
		return
	}
	if ext != "webp" {
		if _, _, err := image.DecodeConfig(f); err != nil {
			fail(w, msgBadType, nil, &failure{"image", "not a valid " + strings.ToUpper(ext) + " image"})
			return
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			log.Error("rewinding spool file", "err", err)
			fail(w, msgStoreFailed, nil, nil)
			return
		}
	}
	key := NewOwnedKey(a.opts.Folder, owner, ext, time.Now())
	if err := a.opts.Storage.Put(r.Context(), key, Spool{File: f, Size: size, ContentType: ctype}); err != nil {
		log.Error("storing image", "key", key, "err", err)
		fail(w, msgStoreFailed, nil, nil)
		return
	}
	_, statErr := os.Stat(f.Name())
	moved = os.IsNotExist(statErr)
	if a.opts.CheckImage != nil {
		trace, err := a.opts.CheckImage(r.Context(), owner, a.url(r, key))
		if err != nil { // not published unchecked: the team turned the check on
			log.Warn("content check failed", "key", key, "err", err)
			a.opts.Storage.Delete(context.WithoutCancel(r.Context()), key)
			w.Header().Set("Retry-After", "30")
			serve.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"code": -1, "msg": "内容检查暂时不可用，请稍后再试", "data": map[string]any{}})
			return
		}
		a.track(trace, key)
	}
	serve.WriteJSON(w, http.StatusOK, map[string]any{"code": 0, "msg": "ok", "data": map[string]any{"imgUrl": a.url(r, key)}})
}

// How long, and how many, images under check are remembered.
const (
	checkingFor = time.Hour
	maxChecking = 10000
)

// track remembers an image under check until its verdict comes (an hour at most, 10,000 at most).
func (a *App) track(trace, key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.checking == nil {
		a.checking = map[string]pending{}
	}
	if len(a.checking) >= maxChecking { // swept only when full, not on every upload
		for t, p := range a.checking {
			if time.Since(p.since) > checkingFor || len(a.checking) >= maxChecking {
				delete(a.checking, t)
			}
		}
	}
	a.checking[trace] = pending{key: key, since: time.Now()}
}

// mediaVerdict takes WeChat's verdict on an upload: a risky image is deleted. WeChat wants
// "success" back, or it pushes again.
func (a *App) mediaVerdict(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if r.Method == http.MethodGet { // the push URL's verification: echo back, if signed
		if _, _, ok := a.opts.Push(r, []byte(`{"Event":"wxa_media_check","trace_id":"verify"}`)); ok {
			io.WriteString(w, r.URL.Query().Get("echostr"))
			return
		}
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	trace, risky, ok := a.opts.Push(r, body)
	if !ok {
		http.Error(w, "bad signature or event", http.StatusForbidden)
		return
	}
	a.mu.Lock()
	p, known := a.checking[trace]
	delete(a.checking, trace)
	a.mu.Unlock()
	known = known && time.Since(p.since) <= checkingFor
	if known && risky {
		log := serve.LoggerFrom(r.Context(), a.log)
		if err := a.opts.Storage.Delete(r.Context(), p.key); err != nil {
			log.Error("deleting a risky image", "key", p.key, "err", err)
			http.Error(w, "retry", http.StatusInternalServerError) // WeChat pushes again
			return
		}
		log.Warn("deleted an image WeChat judged risky", "key", p.key)
	}
	io.WriteString(w, "success")
}

func (a *App) readFailed(w http.ResponseWriter, err error, tooBig func(), log interface{ Warn(string, ...any) }) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		tooBig()
		return
	}
	// The client went away, stalled or sent a broken body: nothing was stored.
	log.Warn("upload not received", "err", err)
	reason := "the upload was interrupted"
	if errors.Is(err, serve.ErrBodyTooSlow) {
		reason = "the upload stalled or was too slow"
	}
	fail(w, msgBadParam, nil, &failure{"image", reason})
}

func (a *App) delete(w http.ResponseWriter, r *http.Request) {
	owner, ok := a.owner(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
	if err != nil {
		fail(w, "failed", map[string]any{"name": "BadRequest", "message": "body too large or unreadable"}, nil)
		return
	}
	var fp string
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		vals, err := url.ParseQuery(string(body))
		if err == nil {
			fp = vals.Get("filepath")
		}
	} else {
		var in struct {
			Filepath string `json:"filepath"`
		}
		_ = json.Unmarshal(body, &in)
		fp = in.Filepath
	}
	if fp == "" {
		fail(w, "failed", map[string]any{"name": "BadRequest", "message": "filepath is required"}, &failure{"filepath", "missing"})
		return
	}
	key, ok := a.keyFor(r, fp)
	if ok && a.opts.OwnerCheck && !ownedBy(key[len(a.opts.Folder):], owner) {
		ok = false // someone else's image, or one uploaded before owner checks
	}
	if !ok {
		fail(w, "failed", map[string]any{"name": "Forbidden", "message": msgForbidden}, &failure{"filepath", "not an image of this album"})
		return
	}
	err = a.opts.Storage.Delete(r.Context(), key)
	if errors.Is(err, ErrNotFound) {
		fail(w, "failed", map[string]any{"name": "NotFound", "message": "image not found"}, &failure{"filepath", "no such image"})
		return
	}
	if err != nil {
		serve.LoggerFrom(r.Context(), a.log).Error("deleting image", "key", key, "err", err)
		fail(w, "failed", map[string]any{"name": "StorageError", "message": "delete failed, try again later"}, nil)
		return
	}
	serve.WriteJSON(w, http.StatusOK, map[string]any{"code": 0, "msg": "ok", "data": map[string]any{}})
}

// keyFor maps what a client sends as filepath (the image URL's path, maybe URI-encoded, maybe the whole
// URL of this album) to a key in the upload folder, refusing everything else.
func (a *App) keyFor(r *http.Request, fp string) (string, bool) {
	fp = strings.TrimSpace(fp)
	if strings.Contains(fp, "://") {
		u, err := url.Parse(fp)
		if err != nil {
			return "", false
		}
		own, err := url.Parse(a.url(r, a.opts.Folder+"x"))
		if err != nil || !strings.EqualFold(u.Host, own.Host) {
			return "", false // another host's URL
		}
		fp = u.EscapedPath()
	}
	// Decode once or twice (clients encode the path with encodeURIComponent, some twice).
	for i := 0; i < 2 && strings.Contains(fp, "%"); i++ {
		d, err := url.PathUnescape(fp)
		if err != nil {
			return "", false
		}
		fp = d
	}
	if !strings.HasPrefix(fp, "/") || strings.Contains(fp, "\\") || strings.ContainsRune(fp, 0) {
		return "", false
	}
	for _, seg := range strings.Split(fp, "/") {
		if seg == ".." || seg == "." {
			return "", false
		}
	}
	if path.Clean(fp) != fp {
		return "", false
	}
	key, ok := a.opts.Storage.KeyFromPath(fp)
	if !ok || !strings.HasPrefix(key, a.opts.Folder) || !keyRE.MatchString(key[len(a.opts.Folder):]) {
		return "", false
	}
	return key, true
}

// takeSlot reserves one of the uploads received at once, unless they are all taken or the client
// holds its share: one client with stalled uploads never takes everyone's.
func (a *App) takeSlot(client netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.uploads >= a.opts.MaxUploads || a.byClient[client] >= a.opts.MaxUploadsPerClient {
		return false
	}
	a.uploads++
	a.byClient[client]++
	return true
}

func (a *App) giveSlot(client netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.uploads--
	if a.byClient[client]--; a.byClient[client] <= 0 {
		delete(a.byClient, client)
	}
}
