package video_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/sqldb"
	"github.com/qcloud-applet/applet/serve/sqlite"
	"github.com/qcloud-applet/applet/serve/video"
	"github.com/qcloud-applet/applet/sqlseed"
)

// newServer serves the app over the embedded store seeded with the sample videos.
func newServer(t *testing.T) *httptest.Server {
	ts, _ := newServerDB(t)
	return ts
}

// newServerDB is newServer with the database, for writes behind the app's back.
func newServerDB(t *testing.T) (*httptest.Server, *sql.DB) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "video.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.SQLite}).Apply(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	app := video.New(video.Options{Store: sqldb.NewVideoStore(db, sqlseed.SQLite, 2*time.Second)})
	ts := httptest.NewServer(serve.New(serve.Options{}).Handler([]serve.App{app}))
	t.Cleanup(func() { ts.Close(); app.Shutdown(context.Background()) })
	return ts, db
}

type reply struct {
	Code  int             `json:"code"`
	Msg   string          `json:"msg"`
	Data  json.RawMessage `json:"data"`
	Next  string          `json:"next"`
	Error *struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"error"`
}

func call(t *testing.T, method, u, ctype, body string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: HTTP %d %s (the contract answers 200)", method, u, resp.StatusCode, b)
	}
	var r reply
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return r
}

type listData struct {
	List []struct {
		ID    int64  `json:"id"`
		Title string `json:"video_title"`
		Image string `json:"video_image"`
		URL   string `json:"video_url"`
	} `json:"list"`
	TotalPage int `json:"totalPage"`
}

func TestListPageNo(t *testing.T) {
	ts := newServer(t)
	base := ts.URL + video.BasePath + "/list"
	r := call(t, "GET", base+"?pageNo=1", "", "")
	var d listData
	if err := json.Unmarshal(r.Data, &d); err != nil || r.Code != 0 || r.Msg != "ok" || len(d.List) != 6 || d.TotalPage != 2 || d.List[0].ID != 1 {
		t.Fatalf("page 1: %+v %+v %v", r, d, err)
	}
	// Missing pageNo is the first page.
	if r := call(t, "GET", base, "", ""); r.Code != 0 {
		t.Fatalf("missing pageNo: %+v", r)
	}
	// Past the end: an empty list, not a failure.
	r = call(t, "GET", base+"?pageNo=2000000000", "", "")
	d = listData{}
	json.Unmarshal(r.Data, &d)
	if r.Code != 0 || len(d.List) != 0 || d.TotalPage != 2 {
		t.Fatalf("far page: %+v %+v", r, d)
	}
	for _, bad := range []string{"0", "-1", "abc", "1e9", "1;DROP TABLE video", "", "99999999999", "1.5", " 1"} {
		r := call(t, "GET", base+"?pageNo="+url.QueryEscape(bad), "", "")
		if r.Code != -1 || r.Msg != "failed" || string(r.Data) != "{}" || r.Error == nil || r.Error.Field != "pageNo" {
			t.Errorf("pageNo=%q: %+v", bad, r)
		}
	}
	// The injection attempt did nothing.
	if r := call(t, "GET", base+"?pageNo=2", "", ""); r.Code != 0 {
		t.Fatal("table gone")
	}
}

func TestCommentValidation(t *testing.T) {
	ts := newServer(t)
	post := func(ctype, body string) reply {
		return call(t, "POST", ts.URL+video.BasePath+"/comment", ctype, body)
	}
	ok := `{"vid":1,"nick":"小明","avatar":"https://a.example/a.png","content":"好看"}`
	if r := post("application/json", ok); r.Code != 0 || r.Msg != "ok" {
		t.Fatalf("valid comment: %+v", r)
	}
	cases := []struct{ name, body, field string }{
		{"vid missing", `{"nick":"n","avatar":"https://a.example/a.png","content":"c"}`, "vid"},
		{"vid unknown", `{"vid":999,"nick":"n","avatar":"https://a.example/a.png","content":"c"}`, "vid"},
		{"vid bad", `{"vid":"1;DROP","nick":"n","avatar":"https://a.example/a.png","content":"c"}`, "vid"},
		{"empty content", `{"vid":1,"nick":"n","avatar":"https://a.example/a.png","content":"   "}`, "content"},
		{"10 KB content", `{"vid":1,"nick":"n","avatar":"https://a.example/a.png","content":"` + strings.Repeat("x", 10<<10) + `"}`, "content"},
		{"nick too long", `{"vid":1,"nick":"` + strings.Repeat("名", 65) + `","avatar":"https://a.example/a.png","content":"c"}`, "nick"},
		{"nick missing", `{"vid":1,"avatar":"https://a.example/a.png","content":"c"}`, "nick"},
		{"avatar not http", `{"vid":1,"nick":"n","avatar":"javascript:alert(1)","content":"c"}`, "avatar"},
		{"not json", `vid=1&nick=n`, "body"},
		{"huge body", `{"vid":1,"pad":"` + strings.Repeat("x", 70<<10) + `"}`, "body"},
	}
	for _, c := range cases {
		r := post("application/json", c.body)
		if r.Code != -1 || r.Msg != "failed" || r.Error == nil || r.Error.Field != c.field {
			t.Errorf("%s: %+v", c.name, r)
		}
	}
	// A urlencoded form works too, and a string vid.
	form := url.Values{"vid": {"2"}, "nick": {"n"}, "avatar": {"http://a.example/a.png"}, "content": {"form"}}.Encode()
	if r := post("application/x-www-form-urlencoded", form); r.Code != 0 {
		t.Fatalf("form: %+v", r)
	}
	if r := post("application/json", `{"vid":"2","nick":"n","avatar":"https://a.example/a.png","content":"string vid"}`); r.Code != 0 {
		t.Fatalf("string vid: %+v", r)
	}
	// No avatar, or an empty one: the comment shows none (never a made-up URL).
	for _, body := range []string{`{"vid":2,"nick":"n","content":"no avatar"}`, `{"vid":2,"nick":"n","avatar":"","content":"empty avatar"}`} {
		if r := post("application/json", body); r.Code != 0 {
			t.Fatalf("%s: %+v", body, r)
		}
	}
	// Emoji and markup come back exactly, as text.
	text := `<script>alert("x")</script> 🎬🍿`
	body, _ := json.Marshal(map[string]any{"vid": 3, "nick": "🐼", "avatar": "https://a.example/a.png", "content": "  " + text + "  "})
	if r := post("application/json", string(body)); r.Code != 0 {
		t.Fatalf("emoji: %+v", r)
	}
	req, _ := http.Get(ts.URL + video.BasePath + "/commentList?vid=3")
	raw, _ := io.ReadAll(req.Body)
	req.Body.Close()
	var got struct {
		Data []struct{ Nick, Content string }
	}
	json.Unmarshal(raw, &got)
	if len(got.Data) != 1 || got.Data[0].Content != text || got.Data[0].Nick != "🐼" {
		t.Fatalf("read back %s", raw)
	}
	if !strings.Contains(string(raw), `<script>`) || strings.Contains(string(raw), `\u003c`) {
		t.Fatalf("markup should be returned as the text it is: %s", raw)
	}
}

func TestCommentListParams(t *testing.T) {
	ts := newServer(t)
	for i := 0; i < 5; i++ {
		body, _ := json.Marshal(map[string]any{"vid": 1, "nick": "n", "avatar": "https://a.example/a.png", "content": string(rune('a' + i))})
		call(t, "POST", ts.URL+video.BasePath+"/comment", "application/json", string(body))
	}
	list := func(q string) (reply, []struct {
		ID      int64
		VID     int64
		Content string
	}) {
		r := call(t, "GET", ts.URL+video.BasePath+"/commentList?"+q, "", "")
		var items []struct {
			ID      int64
			VID     int64
			Content string
		}
		json.Unmarshal(r.Data, &items)
		return r, items
	}
	r, items := list("vid=1")
	if r.Code != 0 || len(items) != 5 || items[0].Content != "e" || r.Next != "" {
		t.Fatalf("all: %+v %+v", r, items)
	}
	r, items = list("vid=1&limit=2")
	if len(items) != 2 || items[0].Content != "e" || r.Next == "" {
		t.Fatalf("limit 2: %+v %+v", r, items)
	}
	r, items = list("vid=1&limit=2&before=" + r.Next)
	if len(items) != 2 || items[0].Content != "c" || items[1].Content != "b" {
		t.Fatalf("page 2: %+v %+v", r, items)
	}
	if r, items := list("vid=2"); r.Code != 0 || string(r.Data) != "[]" || len(items) != 0 {
		t.Fatalf("no comments: %+v", r)
	}
	for _, q := range []string{"", "vid=", "vid=abc", "vid=0", "vid=999", "vid=1&limit=0", "vid=1&limit=101", "vid=1&before=x"} {
		r, _ := list(q)
		if r.Code != -1 || r.Msg != "failed" || string(r.Data) != "{}" || r.Error == nil {
			t.Errorf("%q: %+v", q, r)
		}
	}
}

// The list comes from memory: a video added behind the app's back (an operator's SQL, seed-mysql,
// another instance) shows within video.ListCheck plus the check itself, and deep pages are slices.
func TestListFollowsChangesMadeElsewhere(t *testing.T) {
	ts, db := newServerDB(t)
	total := func() int {
		r := call(t, "GET", ts.URL+video.BasePath+"/list?pageNo=1", "", "")
		var d struct{ TotalPage int }
		json.Unmarshal(r.Data, &d)
		return d.TotalPage
	}
	before := total()
	// Another writer adds 60 videos: ten more pages.
	for i := 0; i < 60; i++ {
		if _, err := db.Exec("INSERT INTO video (video_title, video_image, video_url) VALUES (?, ?, ?)", fmt.Sprint("added ", i), "https://a.example/p.jpg", "https://a.example/v.mp4"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(video.ListCheck + 3*time.Second)
	for total() == before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := total(); got != before+10 {
		t.Fatalf("total pages %d after 60 videos were added elsewhere, want %d", got, before+10)
	}
	r := call(t, "GET", ts.URL+video.BasePath+"/list?pageNo="+fmt.Sprint(before+10), "", "")
	if r.Code != 0 || !strings.Contains(string(r.Data), "added 59") {
		t.Fatalf("last page: %+v", r)
	}
}

// A comment shows at once to the process it was posted through, though first pages are cached.
func TestCommentShowsAtOnceDespiteTheCache(t *testing.T) {
	ts := newServer(t)
	list := func() string {
		r := call(t, "GET", ts.URL+video.BasePath+"/commentList?vid=4", "", "")
		return string(r.Data)
	}
	list() // cached now
	for i := 0; i < 3; i++ {
		body := fmt.Sprintf(`{"vid":4,"nick":"n","content":"c%d"}`, i)
		if r := call(t, "POST", ts.URL+video.BasePath+"/comment", "application/json", body); r.Code != 0 {
			t.Fatalf("comment: %+v", r)
		}
		if got := list(); !strings.Contains(got, fmt.Sprintf(`"c%d"`, i)) {
			t.Fatalf("comment %d not listed right after: %s", i, got)
		}
	}
}

// Pages are kept encoded, but each answer's media URLs stay absolute against the origin its
// request named: an answer made for one host is never served to another.
func TestListPageKeptPerOrigin(t *testing.T) {
	ts := newServer(t)
	get := func(host string) string {
		req, _ := http.NewRequest("GET", ts.URL+video.BasePath+"/list?pageNo=1", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for i := 0; i < 3; i++ {
		for _, host := range []string{"a.example", "b.example"} {
			body := get(host)
			other := map[string]string{"a.example": "b.example", "b.example": "a.example"}[host]
			if !strings.Contains(body, "http://"+host+"/") || strings.Contains(body, other) {
				t.Fatalf("round %d, Host %s: %s", i, host, body)
			}
		}
	}
}

// The list kept in memory answers with exactly the rows the database holds, every field of them.
func TestListMatchesTheDatabase(t *testing.T) {
	ts, db := newServerDB(t)
	if _, err := db.Exec("INSERT INTO video (video_title, video_image, video_url) VALUES (?, ?, ?)", "标题 <b>&amp;</b> ☃", "https://i.example/a%20b.jpg", "https://v.example/視頻.mp4"); err != nil {
		t.Fatal(err)
	}
	want, _, err := sqldb.NewVideoStore(db, sqlseed.SQLite, 2*time.Second).Videos(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []video.Video
	for page := 1; ; page++ {
		r := call(t, "GET", fmt.Sprintf("%s%s/list?pageNo=%d", ts.URL, video.BasePath, page), "", "")
		var d listData
		if err := json.Unmarshal(r.Data, &d); err != nil || r.Code != 0 {
			t.Fatalf("page %d: %+v %v", page, r, err)
		}
		if len(d.List) == 0 {
			break
		}
		for _, v := range d.List {
			got = append(got, video.Video{ID: v.ID, Title: v.Title, Image: v.Image, URL: v.URL})
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d videos listed, the database holds %d", len(got), len(want))
	}
	for i := range want {
		w := want[i]
		if strings.HasPrefix(w.Image, "/") {
			w.Image = ts.URL + w.Image // relative sample paths come back absolute
		}
		if strings.HasPrefix(w.URL, "/") {
			w.URL = ts.URL + w.URL
		}
		if got[i] != w {
			t.Errorf("video %d: listed %+v, stored %+v", i, got[i], w)
		}
	}
}

// An edit of an existing video made behind the app's back shows within a few checks, not at the
// next full reload: once through updated_at, and again when a second edit keeps the same updated_at
// (made within the same second as the first).
func TestListFollowsEditsMadeElsewhere(t *testing.T) {
	ts, db := newServerDB(t)
	title := func(id int) string {
		r := call(t, "GET", ts.URL+video.BasePath+"/list?pageNo=1", "", "")
		var d listData
		json.Unmarshal(r.Data, &d)
		for _, v := range d.List {
			if v.ID == int64(id) {
				return v.Title
			}
		}
		return ""
	}
	waitFor := func(id int, want string) {
		t.Helper()
		deadline := time.Now().Add(3*video.ListCheck + 3*time.Second)
		for title(id) != want && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if got := title(id); got != want {
			t.Fatalf("video %d is titled %q, want %q", id, got, want)
		}
	}
	title(1) // the list is loaded
	if _, err := db.Exec("UPDATE video SET video_title = 'first edit', updated_at = '2099-01-01 00:00:00' WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	waitFor(1, "first edit")
	if _, err := db.Exec("UPDATE video SET video_title = 'second edit', updated_at = '2099-01-01 00:00:00' WHERE id = 3"); err != nil {
		t.Fatal(err)
	}
	waitFor(3, "second edit")
}
