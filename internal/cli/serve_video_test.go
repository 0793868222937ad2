package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve"
)

func videoServer(t *testing.T, cfg *config.Config) (*httptest.Server, error) {
	t.Helper()
	app, err := testWiring(t, cfg).App(context.Background(), "video")
	if err != nil {
		return nil, err
	}
	ts := httptest.NewServer(serve.New(serve.Options{ReadyTimeout: 3 * time.Second}).Handler([]serve.App{app}))
	t.Cleanup(func() { ts.Close(); app.Shutdown(context.Background()) })
	return ts, nil
}

func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %s", u, b)
	}
	return resp.StatusCode
}

type listReply struct {
	Code int
	Data struct {
		List []struct {
			ID         int64
			VideoTitle string `json:"video_title"`
		}
		TotalPage int
	}
}

// The original client's flow: list pages until pageNo == totalPage, open a video, list its comments,
// post one, see it first.
func TestVideoOriginalClientFlowMySQL(t *testing.T) {
	dsn := testenv.MySQLFreshDSN(t)
	if code, out, errOut := runCLI(t, map[string]string{"APPLET_MYSQL_DSN": dsn}, "", "seed-mysql"); code != 0 {
		t.Fatal(out, errOut)
	}
	cfg := config.Default()
	cfg.MySQL.DSN = dsn
	ts, err := videoServer(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := ts.URL + "/applet/video"
	var ids []int64
	for pageNo := 1; ; pageNo++ {
		var r listReply
		getJSON(t, base+"/list?pageNo="+strconv.Itoa(pageNo), &r)
		if r.Code != 0 || len(r.Data.List) == 0 {
			t.Fatalf("page %d: %+v", pageNo, r)
		}
		for _, v := range r.Data.List {
			ids = append(ids, v.ID)
		}
		if pageNo == r.Data.TotalPage {
			break
		}
		if pageNo > 10 {
			t.Fatal("never reached totalPage")
		}
	}
	if len(ids) != 10 {
		t.Fatalf("listed %d videos, want the 10 seeded", len(ids))
	}
	vid := ids[4]
	var comments struct {
		Code int
		Data []struct {
			ID      int64
			Nick    string
			Content string
		}
	}
	getJSON(t, base+"/commentList?vid="+strconv.FormatInt(vid, 10), &comments)
	if comments.Code != 0 || len(comments.Data) != 0 {
		t.Fatalf("comments before: %+v", comments)
	}
	for _, content := range []string{"first", "second 🎬"} {
		body := `{"vid":` + strconv.FormatInt(vid, 10) + `,"nick":"小程序用户","avatar":"https://thirdwx.example/avatar/1","content":"` + content + `"}`
		resp, err := http.Post(base+"/comment", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var r struct{ Code int }
		json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if r.Code != 0 {
			t.Fatalf("post %q: %+v", content, r)
		}
	}
	getJSON(t, base+"/commentList?vid="+strconv.FormatInt(vid, 10), &comments)
	if len(comments.Data) != 2 || comments.Data[0].Content != "second 🎬" || comments.Data[0].Nick != "小程序用户" {
		t.Fatalf("comments after: %+v", comments)
	}
}

// Down at start: serve starts, /readyz is red, requests fail fast with the original shape; when the
// database returns, everything works without a restart.
func TestVideoDatabaseDownAtStartRecovers(t *testing.T) {
	dsn := testenv.MySQLFreshDSN(t)
	if code, out, errOut := runCLI(t, map[string]string{"APPLET_MYSQL_DSN": dsn}, "", "seed-mysql"); code != 0 {
		t.Fatal(out, errOut)
	}
	mcfg, _ := mysql.ParseDSN(dsn)
	proxy := testenv.NewProxy(t, mcfg.Addr)
	mcfg.Addr = proxy.Addr
	cfg := config.Default()
	cfg.MySQL.DSN = mcfg.FormatDSN()
	cfg.Video.QueryTimeout = time.Second

	ts, err := videoServer(t, cfg)
	if err != nil {
		t.Fatalf("serve must start with the database down: %v", err)
	}
	var ready map[string]any
	if code := getJSON(t, ts.URL+"/readyz", &ready); code != 503 {
		t.Fatalf("readyz while down = %d %v", code, ready)
	}
	start := time.Now()
	var r map[string]any
	getJSON(t, ts.URL+"/applet/video/list?pageNo=1", &r)
	if r["code"] != float64(-1) || r["msg"] != "failed" {
		t.Fatalf("list while down: %v", r)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a request while down took %v", took)
	}

	proxy.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for getJSON(t, ts.URL+"/readyz", &ready) != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("readyz still red after the database came back: %v", ready)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var lr listReply
	getJSON(t, ts.URL+"/applet/video/list?pageNo=1", &lr)
	if lr.Code != 0 || len(lr.Data.List) != 6 {
		t.Fatalf("list after recovery: %+v", lr)
	}

	// Down again mid-flight, then back: the list goes on from memory, what needs the database fails
	// fast, and the pool reconnects by itself.
	proxy.Stop()
	getJSON(t, ts.URL+"/applet/video/list?pageNo=1", &r)
	if r["code"] != float64(0) {
		t.Fatalf("list after the database went away: %v", r)
	}
	getJSON(t, ts.URL+"/applet/video/commentList?vid=2&before=1000", &r)
	if r["code"] != float64(-1) {
		t.Fatalf("older comments after the database went away: %v", r)
	}
	proxy.Start(t)
	deadline = time.Now().Add(10 * time.Second)
	for {
		r = nil
		getJSON(t, ts.URL+"/applet/video/commentList?vid=2&before=1000", &r)
		if r["code"] == float64(0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("comments did not recover after the second outage")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestVideoRefusesSchemaBehindUnlessMigrate(t *testing.T) {
	dsn := testenv.MySQLDatabase(t) // exists, never migrated
	cfg := config.Default()
	cfg.MySQL.DSN = dsn
	_, err := videoServer(t, cfg)
	var he *HintError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "at version 0, this applet needs 2") || !strings.Contains(he.Hint, "applet seed-mysql") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "applet:applet@") {
		t.Fatalf("error shows the password: %v", err)
	}
	cfg.Video.Migrate = true
	ts, err := videoServer(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ready map[string]any
	if code := getJSON(t, ts.URL+"/applet/video/readyz", &ready); code != 200 {
		t.Fatalf("readyz after --migrate = %d %v", code, ready)
	}
	var lr listReply
	getJSON(t, ts.URL+"/applet/video/list?pageNo=1", &lr)
	if lr.Code != 0 || lr.Data.TotalPage != 0 {
		t.Fatalf("--migrate applies the schema, not the sample seed: %+v", lr)
	}
}
