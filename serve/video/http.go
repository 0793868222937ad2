package video

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/qcloud-applet/applet/serve"
)

// maxBody bounds a comment request; the largest valid comment is far smaller.
const maxBody = 64 << 10

type videoJSON struct {
	ID    int64  `json:"id"`
	Title string `json:"video_title"`
	Image string `json:"video_image"`
	URL   string `json:"video_url"`
}

type commentJSON struct {
	ID      int64  `json:"id"`
	VID     int64  `json:"vid"`
	Nick    string `json:"nick"`
	Avatar  string `json:"avatar"`
	Content string `json:"content"`
}

// fieldError is the extra `error` member of a failure: which input was wrong and why.
type fieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func failed(w http.ResponseWriter, withData bool, fe *fieldError) {
	body := map[string]any{"code": -1, "msg": "failed"}
	if withData {
		body["data"] = map[string]any{}
	}
	if fe != nil {
		body["error"] = fe
	}
	serve.WriteJSON(w, http.StatusOK, body)
}

func (a *App) storeFailed(w http.ResponseWriter, r *http.Request, op string, err error, withData bool) {
	serve.LoggerFrom(r.Context(), a.log).Error("store failed", "op", op, "err", err)
	failed(w, withData, nil)
}

// positive parses a decimal id or page number: digits only, 1 to 2^31-1.
func positive(s string) (int64, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > 1<<31-1 {
		return 0, false
	}
	return n, true
}

func (a *App) list(w http.ResponseWriter, r *http.Request) {
	page := int64(1) // the original client always sends pageNo; a missing one means the first page
	if s, ok := r.URL.Query()["pageNo"]; ok {
		n, valid := positive(s[0])
		if !valid {
			failed(w, true, &fieldError{"pageNo", "must be a whole number from 1"})
			return
		}
		page = n
	}
	offset := (page - 1) * int64(a.pageSize)
	if offset > 1<<31 {
		offset = 1 << 31 // past any real table: an empty page, not an overflow
	}
	p, err := a.index.page(r.Context(), int(offset), a.pageSize)
	if err != nil {
		a.storeFailed(w, r, "list", err, true)
		return
	}
	key := pageKey{serve.Origin(r, a.mediaOrigin), page}
	if p.empty() {
		key.page = 0
	}
	if body := a.pages.get(p.gen, key); body != nil {
		serve.WriteEncoded(w, http.StatusOK, body)
		return
	}
	list := p.videos()
	out := make([]videoJSON, len(list))
	for i, v := range list {
		out[i] = videoJSON{v.ID, v.Title, resolve(key.origin, v.Image), resolve(key.origin, v.URL)}
	}
	totalPage := (p.total + a.pageSize - 1) / a.pageSize
	body, err := serve.EncodeJSON(map[string]any{"code": 0, "msg": "ok", "data": map[string]any{"list": out, "totalPage": totalPage}})
	if err != nil {
		a.storeFailed(w, r, "list", err, true)
		return
	}
	a.pages.put(p.gen, key, body)
	serve.WriteEncoded(w, http.StatusOK, body)
}

func (a *App) commentList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	vid, ok := positive(q.Get("vid"))
	if !ok {
		failed(w, true, &fieldError{"vid", "must be the id of a video"})
		return
	}
	limit := MaxCommentPage
	if s := q.Get("limit"); s != "" {
		n, ok := positive(s)
		if !ok || n > MaxCommentPage {
			failed(w, true, &fieldError{"limit", "must be a whole number from 1 to 100"})
			return
		}
		limit = int(n)
	}
	var before int64
	if s := q.Get("before"); s != "" {
		n, ok := positive(s)
		if !ok {
			failed(w, true, &fieldError{"before", "must be a comment id"})
			return
		}
		before = n
	}
	// One more than asked tells whether another page exists.
	var list []Comment
	var err error
	switch {
	case before == 0 && limit == MaxCommentPage:
		// The original client's request, by far the most frequent: its answer is kept encoded.
		var body []byte
		if body, err = a.comments.firstBody(r.Context(), vid); err == nil {
			serve.WriteEncoded(w, http.StatusOK, body)
			return
		}
	case before == 0:
		list, err = a.comments.first(r.Context(), vid, limit+1)
	default:
		list, err = a.store.Comments(r.Context(), vid, before, limit+1)
	}
	if errors.Is(err, ErrVideoNotFound) {
		failed(w, true, &fieldError{"vid", "no such video"})
		return
	}
	if err != nil {
		a.storeFailed(w, r, "commentList", err, true)
		return
	}
	serve.WriteJSON(w, http.StatusOK, commentPage(list, limit))
}

// commentPage is commentList's answer for list, which holds one comment more than limit when
// another page follows.
func commentPage(list []Comment, limit int) map[string]any {
	body := map[string]any{"code": 0, "msg": "ok"}
	if len(list) > limit {
		list = list[:limit]
		body["next"] = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	out := make([]commentJSON, len(list))
	for i, c := range list {
		out[i] = commentJSON{c.ID, c.VID, c.Nick, c.Avatar, c.Content}
	}
	body["data"] = out
	return body
}

// commentInput accepts vid as a number or a string: clients built it either way.
type commentInput struct {
	VID     json.RawMessage `json:"vid"`
	Nick    *string         `json:"nick"`
	Avatar  *string         `json:"avatar"`
	Content *string         `json:"content"`
}

func (a *App) comment(w http.ResponseWriter, r *http.Request) {
	if !a.writes.Allow(serve.ClientIP(r, a.proxies)) {
		serve.CountRefused(a.Name(), "write rate")
		w.Header().Set("Retry-After", "60")
		failed(w, false, &fieldError{"rate", "too many comments from this address; try again in a minute"})
		return
	}
	in, fe := readComment(w, r)
	if fe != nil {
		failed(w, false, fe)
		return
	}
	c, fe := validate(in)
	if fe != nil {
		failed(w, false, fe)
		return
	}
	if a.checkText != nil {
		switch err := a.checkText(r, c.Nick+"\n"+c.Content); {
		case errors.Is(err, serve.ErrSignIn):
			serve.WriteJSON(w, http.StatusOK, map[string]any{"code": -1, "msg": "请先登录", "error": &fieldError{"session", "sign in first: comments are checked with WeChat's content security, which names the writer"}})
			return
		case errors.Is(err, serve.ErrContentRefused):
			serve.WriteJSON(w, http.StatusOK, map[string]any{"code": -1, "msg": "内容含有违规信息，请修改后再发", "error": &fieldError{"content", "refused by WeChat's content security"}})
			return
		case err != nil:
			// Not published unchecked: the team turned the check on.
			serve.LoggerFrom(r.Context(), a.log).Warn("content check failed", "err", err)
			w.Header().Set("Retry-After", "30")
			serve.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"code": -1, "msg": "内容检查暂时不可用，请稍后再试", "error": &fieldError{"content", "the content check could not be made"}})
			return
		}
	}
	saved, err := a.store.AddComment(r.Context(), c)
	a.comments.forget(c.VID, nil) // the writer sees it at once
	if errors.Is(err, ErrVideoNotFound) {
		failed(w, false, &fieldError{"vid", "no such video"})
		return
	}
	if err != nil {
		a.storeFailed(w, r, "comment", err, false)
		return
	}
	serve.WriteJSON(w, http.StatusOK, map[string]any{"code": 0, "msg": "ok", "id": saved.ID})
}

func readComment(w http.ResponseWriter, r *http.Request) (map[string]string, *fieldError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &fieldError{"body", "larger than 64 KiB"}
		}
		return nil, &fieldError{"body", "could not be read"}
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	out := map[string]string{}
	// A JSON object is read as JSON whatever the declared type: some clients send JSON as a form.
	isJSON := strings.HasPrefix(strings.TrimSpace(string(body)), "{")
	if ct == "application/x-www-form-urlencoded" && !isJSON {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, &fieldError{"body", "not a urlencoded form"}
		}
		for _, k := range []string{"vid", "nick", "avatar", "content"} {
			if v, ok := vals[k]; ok {
				out[k] = v[0]
			}
		}
		return out, nil
	}
	var in commentInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &fieldError{"body", "not a JSON object"}
	}
	if len(in.VID) > 0 {
		var s string
		if json.Unmarshal(in.VID, &s) != nil {
			s = string(in.VID)
		}
		out["vid"] = s
	}
	for k, p := range map[string]*string{"nick": in.Nick, "avatar": in.Avatar, "content": in.Content} {
		if p != nil {
			out[k] = *p
		}
	}
	return out, nil
}

func validate(in map[string]string) (Comment, *fieldError) {
	vid, ok := positive(strings.TrimSpace(in["vid"]))
	if !ok {
		return Comment{}, &fieldError{"vid", "must be the id of a video"}
	}
	nick := strings.TrimSpace(in["nick"])
	if nick == "" || utf8.RuneCountInString(nick) > MaxNick || !utf8.ValidString(nick) {
		return Comment{}, &fieldError{"nick", "must be 1 to 64 characters"}
	}
	if hasControl(nick, false) {
		return Comment{}, &fieldError{"nick", "must not hold control characters"}
	}
	avatar := strings.TrimSpace(in["avatar"]) // none is fine: such a comment shows no avatar
	if avatar != "" && !avatarURL(avatar) {
		return Comment{}, &fieldError{"avatar", "must be empty, or an http(s) URL with a host, no user part, no quotes or angle brackets, of at most 1024 characters"}
	}
	content := strings.TrimSpace(in["content"])
	if n := utf8.RuneCountInString(content); n == 0 || n > MaxContent || !utf8.ValidString(content) {
		return Comment{}, &fieldError{"content", "must be 1 to 500 characters"}
	}
	if hasControl(content, true) {
		return Comment{}, &fieldError{"content", "must not hold control characters (new lines are fine)"}
	}
	return Comment{VID: vid, Nick: nick, Avatar: avatar, Content: content}, nil
}

// hasControl reports control characters (C0, DEL, C1, and the invisible bidirectional overrides);
// newLines allows \n, \r and \t.
func hasControl(s string, newLines bool) bool {
	for _, r := range s {
		switch {
		case newLines && (r == '\n' || r == '\r' || r == '\t'):
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0), r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return true
		}
	}
	return false
}

// avatarURL accepts what a page may safely put in an image's src: http(s), a host, no user part
// (https://evil.com@x/ reads as evil.com), and nothing that ends an attribute or starts a tag.
func avatarURL(s string) bool {
	if len(s) > MaxAvatar || strings.ContainsAny(s, "\"'<>` \\") || hasControl(s, false) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil && u.Hostname() != ""
}
