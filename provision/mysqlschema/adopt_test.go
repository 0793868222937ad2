package mysqlschema

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/serve/sqldb"
	"github.com/qcloud-applet/applet/serve/video"
	"github.com/qcloud-applet/applet/sqlseed"
)

// The original demo's tables, from its published definitions: utf8 (utf8mb3), LONGTEXT videos,
// comments with a 255-character nick and a TEXT content, no timestamps, no index on vid, no key.
const originalSchema = `CREATE TABLE video (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  video_title LONGTEXT,
  video_image LONGTEXT,
  video_url LONGTEXT,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
CREATE TABLE comment (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  vid INT UNSIGNED,
  nick VARCHAR(255),
  avatar VARCHAR(255),
  content TEXT,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8`

type origVideo struct {
	ID                int64
	Title, Image, URL string
}

type origComment struct {
	ID                    int64
	VID                   int64
	Nick, Avatar, Content string
}

// originalDatabase makes a database as a team of the original demo has it: eight trailers, one of
// them deleted since, comments (one of the deleted video, one with an over-long nick, one longer
// than applet's limit), emoji-free as utf8mb3 requires.
func originalDatabase(t *testing.T, extra ...string) (string, []origVideo, []origComment) {
	t.Helper()
	dsn := testenv.MySQLDatabase(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range append(strings.Split(originalSchema, ";\n"), extra...) {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	for i := 1; i <= 8; i++ {
		db.Exec("INSERT INTO video (video_title, video_image, video_url) VALUES (?, ?, ?)",
			fmt.Sprintf("预告片 %d", i), fmt.Sprintf("https://img.example.com/%d.jpg", i), fmt.Sprintf("https://media.example.com/%d.mp4", i))
	}
	n := 0
	add := func(vid int, nick, content string) {
		n++
		if _, err := db.Exec("INSERT INTO comment (vid, nick, avatar, content) VALUES (?, ?, ?, ?)", vid, nick, fmt.Sprintf("https://a.example/%d.png", n), content); err != nil {
			t.Fatal(err)
		}
	}
	add(1, "小明", "好看")
	add(1, "alice", "second on one")
	add(2, "bob", "on two")
	add(1, strings.Repeat("n", 100), "a long nickname")
	add(3, "carol", strings.Repeat("长", 600))
	add(8, "dave", "of a video deleted since")
	add(1, "erin", "third on one")
	if _, err := db.Exec("DELETE FROM video WHERE id = 8"); err != nil {
		t.Fatal(err)
	}
	var videos []origVideo
	rows, _ := db.Query("SELECT id, video_title, video_image, video_url FROM video ORDER BY id")
	for rows.Next() {
		var v origVideo
		rows.Scan(&v.ID, &v.Title, &v.Image, &v.URL)
		videos = append(videos, v)
	}
	rows.Close()
	var comments []origComment
	rows, _ = db.Query("SELECT id, vid, nick, avatar, content FROM comment ORDER BY id")
	for rows.Next() {
		var c origComment
		rows.Scan(&c.ID, &c.VID, &c.Nick, &c.Avatar, &c.Content)
		comments = append(comments, c)
	}
	rows.Close()
	return dsn, videos, comments
}

func showCreate(t *testing.T, dsn string) string {
	db, _ := sql.Open("mysql", dsn)
	defer db.Close()
	var out []string
	for _, table := range []string{"video", "comment"} {
		var name, ddl string
		if err := db.QueryRow("SHOW CREATE TABLE "+table).Scan(&name, &ddl); err != nil {
			t.Fatal(err)
		}
		out = append(out, ddl)
	}
	var n int
	db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()").Scan(&n)
	return strings.Join(out, "\n") + fmt.Sprintf("\n%d tables", n)
}

// originalList is the original server's list: id order, six a page, and the number of pages.
func originalList(videos []origVideo, page int) (list []map[string]any, totalPage int) {
	for i := (page - 1) * 6; i < len(videos) && i < page*6; i++ {
		v := videos[i]
		list = append(list, map[string]any{"id": float64(v.ID), "video_title": v.Title, "video_image": v.Image, "video_url": v.URL})
	}
	return list, (len(videos) + 5) / 6
}

// originalComments is the original server's commentList: every comment of the video, newest first.
func originalComments(comments []origComment, vid int64) []map[string]any {
	out := []map[string]any{}
	for i := len(comments) - 1; i >= 0; i-- {
		if c := comments[i]; c.VID == vid {
			out = append(out, map[string]any{"id": float64(c.ID), "vid": float64(c.VID), "nick": c.Nick, "avatar": c.Avatar, "content": c.Content})
		}
	}
	return out
}

func getJSON(t *testing.T, u string) map[string]any {
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return out
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestAdoptTheOriginalDemo(t *testing.T) {
	dsn, videos, comments := originalDatabase(t)
	before := showCreate(t, dsn)
	ctx := context.Background()

	// The dry run shows the plan and every statement, and changes nothing.
	var out bytes.Buffer
	if err := Seed(ctx, dsn, SeedOptions{DryRun: true, Out: &out}); err != nil {
		t.Fatal(err)
	}
	t.Logf("dry run:\n%s", out.String())
	for _, want := range []string{"ALTER TABLE video", "CHARACTER SET utf8mb4", "ADD KEY comment_vid_id (vid, id)", "ADD CONSTRAINT comment_video FOREIGN KEY",
		"1 comments of deleted videos are kept", "1 nicknames are longer than 64 characters: nick stays VARCHAR(255)", "1 comments are longer than 500 characters: content stays TEXT",
		"video: 7 rows copied once", "comment: 7 rows copied once", "existing rows get the time of the adoption", "ALGORITHM=COPY", "LOCK=SHARED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the dry run lacks %q:\n%s", want, out.String())
		}
	}
	if after := showCreate(t, dsn); after != before {
		t.Fatalf("the dry run changed the tables:\n%s", after)
	}

	// Stopped after the first rebuild (as a kill would): what ran is whole, the rest runs next time.
	out.Reset()
	cctx, cancel := context.WithCancel(ctx)
	err := Seed(cctx, dsn, SeedOptions{Out: &out, afterStatement: func(i int) { cancel() }})
	if err == nil {
		t.Fatal("a stopped adoption reported success")
	}
	if !strings.Contains(err.Error(), "run applet seed-mysql again") {
		t.Errorf("the error does not say what to do: %v", err)
	}
	out.Reset()
	if err := Seed(ctx, dsn, SeedOptions{Out: &out}); err != nil {
		t.Fatalf("the second run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"adopted:", "skipped seed 0001_sample_videos: video already holds 7 rows"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the adoption's output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "ALTER TABLE video") {
		t.Errorf("the second run rebuilt video again:\n%s", out.String())
	}

	db, _, err := mysql.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if diffs, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL}).Verify(ctx); err != nil || len(diffs) != 0 {
		t.Fatalf("after adoption: %v %v", diffs, err)
	}

	// The original client's routes answer what the original server answered.
	store, _, err := sqldb.OpenMySQL(ctx, dsn, 0, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(serve.New(serve.Options{}).Handler([]serve.App{video.New(video.Options{Store: store})}))
	defer ts.Close()
	for page := 1; page <= 2; page++ {
		got := getJSON(t, fmt.Sprintf("%s/applet/video/list?pageNo=%d", ts.URL, page))
		list, total := originalList(videos, page)
		data, _ := got["data"].(map[string]any)
		if got["code"] != float64(0) || !jsonEqual(data["list"], list) || data["totalPage"] != float64(total) {
			t.Fatalf("list page %d: %v, the original answered %v (%d pages)", page, got, list, total)
		}
	}
	for _, v := range videos {
		got := getJSON(t, fmt.Sprintf("%s/applet/video/commentList?vid=%d", ts.URL, v.ID))
		if want := originalComments(comments, v.ID); got["code"] != float64(0) || !jsonEqual(got["data"], want) {
			t.Fatalf("commentList %d: %v, the original answered %v", v.ID, got["data"], want)
		}
	}
	var kept int
	db.QueryRow("SELECT COUNT(*) FROM comment WHERE vid = 8").Scan(&kept)
	if kept != 1 {
		t.Fatal("the comment of the deleted video was not kept")
	}
	// utf8mb4 now: an emoji comment is stored and read back.
	resp, err := http.Post(ts.URL+"/applet/video/comment", "application/json", strings.NewReader(`{"vid":1,"nick":"🎬 fan","avatar":"https://a.example/f.png","content":"👍"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := getJSON(t, ts.URL+"/applet/video/commentList?vid=1"); !strings.Contains(fmt.Sprint(got["data"]), "🎬 fan") {
		t.Fatalf("an emoji comment: %v", got)
	}

	// Once adopted, running it again does nothing.
	out.Reset()
	if err := Seed(ctx, dsn, SeedOptions{Out: &out}); err != nil || !strings.HasPrefix(out.String(), "nothing to do") {
		t.Fatalf("a third run: %v\n%s", err, out.String())
	}
}

func TestAdoptDropsOrphansWhenAsked(t *testing.T) {
	dsn, _, _ := originalDatabase(t)
	var out bytes.Buffer
	if err := Seed(context.Background(), dsn, SeedOptions{Out: &out, DropOrphans: true}); err != nil {
		t.Fatal(err)
	}
	db, _ := sql.Open("mysql", dsn)
	defer db.Close()
	var n int
	db.QueryRow("SELECT COUNT(*) FROM comment").Scan(&n)
	if n != 6 || !strings.Contains(out.String(), "1 comments of deleted videos are deleted") {
		t.Fatalf("%d comments left:\n%s", n, out.String())
	}
}

func TestAdoptRefusesAColumnItDoesNotKnow(t *testing.T) {
	dsn, _, _ := originalDatabase(t, "ALTER TABLE comment ADD COLUMN likes INT")
	before := showCreate(t, dsn)
	err := Seed(context.Background(), dsn, SeedOptions{Out: &bytes.Buffer{}})
	var uc *UnknownColumnError
	if !errors.As(err, &uc) || uc.Table != "comment" || uc.Column != "likes" || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err = %v", err)
	}
	if after := showCreate(t, dsn); after != before {
		t.Fatalf("the tables changed:\n%s", after)
	}
}
