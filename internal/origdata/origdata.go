// Package origdata makes a data set in the original video demo's schema: its tables (utf8, LONGTEXT
// videos, no timestamps, no index on vid) filled with videos and comments as a team that ran it for
// a while has them: comments spread unevenly over the videos, some videos deleted since (their
// comments stay), a few over-long nicknames and comments. It is what the adoption, backup and
// performance benchmarks load; internal/tools/origdata loads it into any database.
package origdata

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Schema is the original demo's tables, as published.
var Schema = []string{
	`CREATE TABLE video (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  video_title LONGTEXT,
  video_image LONGTEXT,
  video_url LONGTEXT,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
	`CREATE TABLE comment (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  vid INT UNSIGNED,
  nick VARCHAR(255),
  avatar VARCHAR(255),
  content TEXT,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
}

// ListQuery is the original server's list query for a page (six a page).
const ListQuery = "SELECT * FROM video LIMIT ?, 6"

// Load creates the tables and fills them with videos and comments; one video in a hundred is deleted
// afterwards. The same seed makes the same rows.
func Load(ctx context.Context, db *sql.DB, videos, comments int, seed uint64) error {
	for _, s := range Schema {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("creating the original tables: %w", err)
		}
	}
	r := rand.New(rand.NewPCG(seed, 1))
	const batch = 1000
	for start := 0; start < videos; start += batch {
		var q strings.Builder
		q.WriteString("INSERT INTO video (video_title, video_image, video_url) VALUES ")
		args := []any{}
		for i := start; i < min(start+batch, videos); i++ {
			if i > start {
				q.WriteString(",")
			}
			q.WriteString("(?,?,?)")
			args = append(args, fmt.Sprintf("预告片 %d", i+1), fmt.Sprintf("https://img.example.com/posters/%d.jpg", i+1), fmt.Sprintf("https://media.example.com/trailers/%d.mp4", i+1))
		}
		if _, err := db.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("loading videos: %w", err)
		}
	}
	for start := 0; start < comments; start += batch {
		var q strings.Builder
		q.WriteString("INSERT INTO comment (vid, nick, avatar, content) VALUES ")
		args := []any{}
		for i := start; i < min(start+batch, comments); i++ {
			if i > start {
				q.WriteString(",")
			}
			q.WriteString("(?,?,?,?)")
			// Popular videos get most comments: a square keeps the spread uneven.
			f := r.Float64()
			vid := 1 + int(f*f*float64(videos))
			nick := fmt.Sprintf("用户%d", r.IntN(200000))
			if r.IntN(10000) == 0 {
				nick = strings.Repeat("长", 80+r.IntN(100)) // over applet's 64
			}
			content := strings.Repeat("不错", 5+r.IntN(40))
			if r.IntN(20000) == 0 {
				content = strings.Repeat("很长的评论", 120) // over applet's 500
			}
			args = append(args, vid, nick, fmt.Sprintf("https://wx.qlogo.cn/mmopen/%d/132", r.IntN(1000000)), content)
		}
		if _, err := db.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("loading comments: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM video WHERE id % 100 = 0"); err != nil {
		return fmt.Errorf("deleting videos: %w", err)
	}
	return nil
}
