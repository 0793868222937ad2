package mysqlschema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/qcloud-applet/applet/internal/hint"
	"github.com/qcloud-applet/applet/sqlseed"
)

// The original demo's tables: video(id, video_title, video_image, video_url) and comment(id, vid, nick,
// avatar, content), utf8 (utf8mb3), without timestamps, an index on vid or a foreign key. Adoption
// converts them in place, one rebuild per table, and keeps every row:
//   - utf8mb4, so comments may carry emoji;
//   - created_at (and video.updated_at): existing rows get the time of the adoption, since the original
//     kept none (comments are ordered by id, so their order is kept);
//   - the (vid, id) index and the foreign key to video. Comments of deleted videos are normal in the
//     original: they are reported and kept (the key is added without checking old rows), or deleted
//     with DropOrphans;
//   - the limits: a column whose rows exceed applet's limit keeps a width that holds them (nick up to
//     255, content and titles as TEXT), reported; nothing is ever truncated. applet's own limits still
//     apply to new comments;
//   - NULLs, which the original allowed, become empty strings, counted in the plan; a comment without a
//     video id counts as a comment of a deleted video.
// Each rebuild copies the table: reads go on, writes wait (ALGORITHM=COPY, LOCK=SHARED).

// knownColumns are the columns a table may have to be adopted: the original's and applet's.
var knownColumns = map[string][]string{
	"video":   {"id", "video_title", "video_image", "video_url", "created_at", "updated_at"},
	"comment": {"id", "vid", "nick", "avatar", "content", "created_at"},
}

// Adoption is what adopting a database does.
type Adoption struct {
	Statements []string // exactly what runs, in order
	Notes      []string // what a person should know: rows touched, kept, widened, deleted
}

// UnknownColumnError is a table with a column neither the original demo nor applet has: adoption
// would not know what it is for, so it changes nothing.
type UnknownColumnError struct{ Table, Column string }

func (e *UnknownColumnError) Error() string {
	return fmt.Sprintf("table %s has a column %s that neither the original demo nor applet has: nothing was changed", e.Table, e.Column)
}

type colPlan struct {
	name, def string // the definition applet wants, or a wider one the rows need
}

// planAdoption reads the tables and what their rows hold, and plans the conversion. An empty plan
// means the tables already are applet's.
func planAdoption(ctx context.Context, db *sql.DB, dropOrphans bool) (*Adoption, error) {
	a := &Adoption{}
	tables := map[string]*sqlseed.Table{}
	for _, want := range sqlseed.Expected(sqlseed.Latest(sqlseed.MySQL)) {
		got, err := sqlseed.ReadTable(ctx, db, want.Name)
		if err != nil {
			return nil, err
		}
		if got == nil {
			return nil, fmt.Errorf("table %s is missing beside the others: not the original demo's tables", want.Name)
		}
		for _, c := range got.Columns {
			if !slices.Contains(knownColumns[want.Name], c.Name) {
				return nil, &UnknownColumnError{want.Name, c.Name}
			}
		}
		tables[want.Name] = got
	}
	const utf8mb4 = "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	has := func(t *sqlseed.Table, col string) bool {
		return slices.ContainsFunc(t.Columns, func(c sqlseed.Column) bool { return c.Name == col })
	}
	count := func(q string) (int64, error) {
		var n sql.NullInt64
		err := db.QueryRowContext(ctx, q).Scan(&n)
		return n.Int64, err
	}

	// video: one pass over the rows for what they hold.
	video := tables["video"]
	if diffs := sqlseed.Compare(sqlseed.Expected(1)[0], video); len(diffs) > 0 {
		var rows, longTitle, longURL, nulls sql.NullInt64
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*), SUM(CHAR_LENGTH(video_title) > 255),
			SUM(CHAR_LENGTH(video_image) > 1024 OR CHAR_LENGTH(video_url) > 1024),
			SUM(video_title IS NULL OR video_image IS NULL OR video_url IS NULL) FROM video`).Scan(&rows, &longTitle, &longURL, &nulls); err != nil {
			return nil, fmt.Errorf("reading video: %w", err)
		}
		if nulls.Int64 > 0 {
			a.Statements = append(a.Statements, "UPDATE video SET video_title = COALESCE(video_title, ''), video_image = COALESCE(video_image, ''), video_url = COALESCE(video_url, '') WHERE video_title IS NULL OR video_image IS NULL OR video_url IS NULL")
			a.Notes = append(a.Notes, fmt.Sprintf("video: %d rows with an empty (NULL) title or URL get an empty string", nulls.Int64))
		}
		title, url := "VARCHAR(255)", "VARCHAR(1024)"
		if longTitle.Int64 > 0 {
			title = "TEXT"
			a.Notes = append(a.Notes, fmt.Sprintf("video: %d titles are longer than 255 characters: video_title stays TEXT (nothing is cut)", longTitle.Int64))
		}
		if longURL.Int64 > 0 {
			url = "TEXT"
			a.Notes = append(a.Notes, fmt.Sprintf("video: %d URLs are longer than 1024 characters: they stay TEXT (nothing is cut)", longURL.Int64))
		}
		parts := []string{
			"MODIFY id INT UNSIGNED NOT NULL AUTO_INCREMENT",
			"MODIFY video_title " + title + " " + utf8mb4 + " NOT NULL",
			"MODIFY video_image " + url + " " + utf8mb4 + " NOT NULL",
			"MODIFY video_url " + url + " " + utf8mb4 + " NOT NULL",
		}
		if !has(video, "created_at") {
			parts = append(parts, "ADD COLUMN created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP")
		}
		if !has(video, "updated_at") {
			parts = append(parts, "ADD COLUMN updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP")
		}
		parts = append(parts, "DEFAULT "+utf8mb4, "ALGORITHM=COPY", "LOCK=SHARED")
		a.Statements = append(a.Statements, "ALTER TABLE video\n  "+strings.Join(parts, ",\n  "))
		a.Notes = append(a.Notes, fmt.Sprintf("video: %d rows copied once (utf8mb4, timestamps: existing rows get the time of the adoption); reads go on, writes wait", rows.Int64))
	}

	comment := tables["comment"]
	if diffs := sqlseed.Compare(sqlseed.Expected(2)[1], comment); len(diffs) > 0 {
		var rows, longNick, longAvatar, longContent, nulls sql.NullInt64
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*), SUM(CHAR_LENGTH(nick) > 64), SUM(CHAR_LENGTH(avatar) > 1024),
			SUM(CHAR_LENGTH(content) > 500), SUM(vid IS NULL OR nick IS NULL OR avatar IS NULL OR content IS NULL) FROM comment`).Scan(&rows, &longNick, &longAvatar, &longContent, &nulls); err != nil {
			return nil, fmt.Errorf("reading comment: %w", err)
		}
		orphans, err := count("SELECT COUNT(*) FROM comment c LEFT JOIN video v ON v.id = c.vid WHERE v.id IS NULL")
		if err != nil {
			return nil, fmt.Errorf("reading comment: %w", err)
		}
		if nulls.Int64 > 0 {
			a.Statements = append(a.Statements, "UPDATE comment SET vid = COALESCE(vid, 0), nick = COALESCE(nick, ''), avatar = COALESCE(avatar, ''), content = COALESCE(content, '') WHERE vid IS NULL OR nick IS NULL OR avatar IS NULL OR content IS NULL")
			a.Notes = append(a.Notes, fmt.Sprintf("comment: %d rows with an empty (NULL) video id, nick, avatar or content get 0 or an empty string (a comment without a video counts as one of a deleted video)", nulls.Int64))
		}
		hasFK := len(comment.ForeignKeys) > 0
		switch {
		case orphans > 0 && dropOrphans:
			a.Statements = append(a.Statements, "DELETE c FROM comment c LEFT JOIN video v ON v.id = c.vid WHERE v.id IS NULL")
			a.Notes = append(a.Notes, fmt.Sprintf("comment: %d comments of deleted videos are deleted (--drop-orphans)", orphans))
		case orphans > 0:
			a.Notes = append(a.Notes, fmt.Sprintf("comment: %d comments of deleted videos are kept (no client shows them; --drop-orphans deletes them); the foreign key is added without checking them", orphans))
		}
		nick, avatar, content := "VARCHAR(64)", "VARCHAR(1024)", "VARCHAR(500)"
		if longNick.Int64 > 0 {
			nick = "VARCHAR(255)"
			a.Notes = append(a.Notes, fmt.Sprintf("comment: %d nicknames are longer than 64 characters: nick stays VARCHAR(255) (nothing is cut; new comments keep the 64 limit)", longNick.Int64))
		}
		if longAvatar.Int64 > 0 {
			avatar = "TEXT"
			a.Notes = append(a.Notes, fmt.Sprintf("comment: %d avatar URLs are longer than 1024 characters: avatar stays TEXT", longAvatar.Int64))
		}
		if longContent.Int64 > 0 {
			content = "TEXT"
			a.Notes = append(a.Notes, fmt.Sprintf("comment: %d comments are longer than 500 characters: content stays TEXT (nothing is cut; new comments keep the 500 limit)", longContent.Int64))
		}
		parts := []string{
			"MODIFY id INT UNSIGNED NOT NULL AUTO_INCREMENT",
			"MODIFY vid INT UNSIGNED NOT NULL",
			"MODIFY nick " + nick + " " + utf8mb4 + " NOT NULL",
			"MODIFY avatar " + avatar + " " + utf8mb4 + " NOT NULL",
			"MODIFY content " + content + " " + utf8mb4 + " NOT NULL",
		}
		if !has(comment, "created_at") {
			parts = append(parts, "ADD COLUMN created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP")
		}
		if !slices.ContainsFunc(comment.Indexes, func(i sqlseed.Index) bool { return slices.Equal(i.Columns, []string{"vid", "id"}) }) {
			parts = append(parts, "ADD KEY comment_vid_id (vid, id)")
		}
		if !hasFK {
			parts = append(parts, "ADD CONSTRAINT comment_video FOREIGN KEY (vid) REFERENCES video (id) ON DELETE CASCADE")
		}
		parts = append(parts, "DEFAULT "+utf8mb4, "ALGORITHM=COPY", "LOCK=SHARED")
		alter := "ALTER TABLE comment\n  " + strings.Join(parts, ",\n  ")
		if !hasFK && orphans > 0 && !dropOrphans {
			// Kept orphans: the key guards new rows; old ones are not checked.
			a.Statements = append(a.Statements, "SET SESSION foreign_key_checks = 0", alter, "SET SESSION foreign_key_checks = 1")
		} else {
			a.Statements = append(a.Statements, alter)
		}
		a.Notes = append(a.Notes, fmt.Sprintf("comment: %d rows copied once (utf8mb4, created_at: existing rows get the time of the adoption, the (vid, id) index, the foreign key); reads go on, writes wait", rows.Int64))
	}
	return a, nil
}

// adopt runs the plan on one connection (session settings hold), then records the migrations
// once the tables verify.
func adopt(ctx context.Context, db *sql.DB, a *Adoption, out io.Writer, after func(int)) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('applet_sqlseed', 60)").Scan(&got); err != nil || got.Int64 != 1 {
		return errors.Join(errors.New("taking the migration lock: another applet is changing this database"), err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('applet_sqlseed')")
	for i, stmt := range a.Statements {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("adopting: statement %d (%s): %w; run applet seed-mysql again to finish", i+1, sqlseed.Abbrev(stmt), err)
		}
		if !strings.HasPrefix(stmt, "SET ") {
			fmt.Fprintf(out, "done: %s\n", sqlseed.Abbrev(stmt))
		}
		if after != nil {
			after(i)
		}
	}
	diffs, err := sqlseed.Verify(ctx, conn, sqlseed.Expected(sqlseed.Latest(sqlseed.MySQL)))
	if err != nil {
		return err
	}
	if len(diffs) > 0 {
		return fmt.Errorf("adopting: the tables still differ, nothing was recorded: %s", strings.Join(diffs, "; "))
	}
	return sqlseed.Record(ctx, conn, sqlseed.MySQL)
}

// needsAdoption reports whether the database holds applet's tables without a record of their
// migrations: the original demo's, or tables made by hand.
func needsAdoption(ctx context.Context, db *sql.DB) (bool, error) {
	st, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL}).Status(ctx, false)
	if err != nil {
		return false, err
	}
	if st.Version > 0 {
		return false, nil
	}
	t, err := sqlseed.ReadTable(ctx, db, "video")
	return t != nil, err
}

// adoptionHint is what to do about an UnknownColumnError.
func adoptionHint(err error) error {
	var uc *UnknownColumnError
	if errors.As(err, &uc) {
		return hint.New(err, "rename or drop "+uc.Table+"."+uc.Column+" by hand (or keep it in another table), then run applet seed-mysql again")
	}
	return err
}
