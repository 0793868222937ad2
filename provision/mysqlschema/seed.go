package mysqlschema

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/internal/hint"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/sqlseed"
)

// SeedOptions say what Seed does.
type SeedOptions struct {
	DryRun   bool // print the SQL that would run, change nothing
	Reset    bool // drop the database first
	NoSeed   bool // the schema only, not the sample videos
	NoCreate bool // fail instead of creating a missing database
	Out      io.Writer
	// Confirm is asked before Reset drops the database name on addr; nil drops without asking.
	Confirm func(name, addr string) error
	// ConfirmAdopt is asked, after the plan is shown, before the original demo's tables are converted;
	// nil converts without asking.
	ConfirmAdopt func() error
	// DropOrphans deletes, while adopting, comments of videos that no longer exist (kept otherwise).
	DropOrphans bool
	// afterStatement, in tests, is told each adoption statement that ran (to stop a run midway).
	afterStatement func(i int)
}

var dbNameRE = regexp.MustCompile(`^[A-Za-z0-9_$-]{1,64}$`)

// Seed creates the database of dsn when it is missing, applies the video schema's pending migrations
// and the sample seed, and prints what it did to o.Out: what `applet seed-mysql` does.
func Seed(ctx context.Context, dsn string, o SeedOptions) error {
	db, mcfg, err := mysql.Open(dsn)
	if err != nil {
		return err
	}
	db.Close()
	name := mcfg.DBName
	if !dbNameRE.MatchString(name) {
		return hint.New(fmt.Errorf("mysql.dsn names no usable database (got %q)", name), "end the DSN with /<database>, e.g. ...@tcp(host:3306)/applet")
	}
	where := mysql.Describe(mcfg)
	out := o.Out
	fail := func(what string, err error) error {
		return fmt.Errorf("%s: %s: %w", where, what, err)
	}

	// The server without a database, to look for, create or drop it.
	scfg := mcfg.Clone()
	scfg.DBName = ""
	server, _, err := mysql.Open(scfg.FormatDSN())
	if err != nil {
		return err
	}
	defer server.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var n int
	if err := server.QueryRowContext(cctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
		return hint.New(fail("connecting", err), "check that MySQL is running and reachable, and the user and password in mysql.dsn")
	}
	exists := n > 0
	dry := func(stmt string) { fmt.Fprintf(out, "%s;\n", strings.TrimSpace(stmt)) }

	if o.Reset && exists {
		drop := "DROP DATABASE `" + name + "`"
		if o.DryRun {
			dry(drop)
		} else {
			if o.Confirm != nil {
				if err := o.Confirm(name, mcfg.Addr); err != nil {
					return err
				}
			}
			if _, err := server.ExecContext(ctx, drop); err != nil {
				return fail("dropping database "+name, err)
			}
			fmt.Fprintf(out, "dropped database %s\n", name)
		}
		exists = false
	}
	if !exists {
		if o.NoCreate {
			return hint.New(fmt.Errorf("%s: database %s does not exist", where, name), "create it, or run without --no-create-db")
		}
		create := "CREATE DATABASE IF NOT EXISTS `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
		if o.DryRun {
			dry(create)
		} else {
			if _, err := server.ExecContext(ctx, create); err != nil {
				return hint.New(fail("creating database "+name, err), "create it as an administrator, or grant CREATE to the user in mysql.dsn")
			}
			fmt.Fprintf(out, "created database %s\n", name)
		}
	}

	withSeed := !o.NoSeed
	if exists && !(o.Reset && o.DryRun) {
		if done, err := adoptIfNeeded(ctx, dsn, where, o); err != nil || done {
			return err
		}
	}
	if o.DryRun {
		var pending []sqlseed.Step
		if exists {
			db, _, err := mysql.Open(dsn)
			if err != nil {
				return err
			}
			defer db.Close()
			st, err := (&sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL}).Status(ctx, withSeed)
			if err != nil {
				return fail("reading the schema version", err)
			}
			pending = st.Pending
		} else {
			// A database that does not exist yet gets everything.
			migs, _ := sqlseed.Migrations(sqlseed.MySQL)
			pending = migs
			if withSeed {
				seeds, _ := sqlseed.Seeds(sqlseed.MySQL)
				pending = append(pending, seeds...)
			}
		}
		if len(pending) == 0 {
			fmt.Fprintf(out, "-- nothing to do: %s is at schema version %d with the seed applied\n", where, sqlseed.Latest(sqlseed.MySQL))
			return nil
		}
		fmt.Fprintf(out, "USE `%s`;\n", name)
		for _, stmt := range sqlseed.BookkeepingSQL(sqlseed.MySQL) {
			dry(stmt)
		}
		for _, s := range pending {
			fmt.Fprintf(out, "-- %s\n", s)
			for _, stmt := range s.Statements {
				dry(stmt)
			}
		}
		return nil
	}

	db, _, err = mysql.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	seeded := false
	m := &sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL, Progress: func(s sqlseed.Step, d time.Duration) {
		if s.Skipped != "" {
			fmt.Fprintf(out, "skipped %s: %s\n", s, s.Skipped)
			return
		}
		seeded = seeded || s.Kind == sqlseed.KindSeed
		fmt.Fprintf(out, "applied %s (%s)\n", s, d.Round(time.Millisecond))
	}}
	done, err := m.Apply(ctx, withSeed)
	if err != nil {
		return fail("database "+name, err)
	}
	if len(done) == 0 {
		fmt.Fprintf(out, "nothing to do: %s is at schema version %d", where, sqlseed.Latest(sqlseed.MySQL))
	} else {
		fmt.Fprintf(out, "done: %s is at schema version %d", where, sqlseed.Latest(sqlseed.MySQL))
	}
	if seeded {
		fmt.Fprint(out, " with the sample videos seeded")
	}
	var videos int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM video").Scan(&videos); err == nil {
		fmt.Fprintf(out, "; %d videos\n", videos)
	} else {
		fmt.Fprintln(out)
	}
	return nil
}

// adoptIfNeeded converts the original demo's tables (or tables made by hand) that no migration record
// covers, after showing the plan; done means a dry run printed it and nothing more is to be done.
func adoptIfNeeded(ctx context.Context, dsn, where string, o SeedOptions) (done bool, err error) {
	db, _, err := mysql.Open(dsn)
	if err != nil {
		return false, err
	}
	defer db.Close()
	need, err := needsAdoption(ctx, db)
	if err != nil || !need {
		return false, err
	}
	a, err := planAdoption(ctx, db, o.DropOrphans)
	if err != nil {
		return false, adoptionHint(fmt.Errorf("%s: %w", where, err))
	}
	out := o.Out
	fmt.Fprintf(out, "-- %s holds tables without a migration record (the original demo's, or made by hand): they are adopted in place\n", where)
	for _, n := range a.Notes {
		fmt.Fprintf(out, "-- %s\n", n)
	}
	if o.DryRun {
		for _, stmt := range a.Statements {
			fmt.Fprintf(out, "%s;\n", stmt)
		}
		fmt.Fprintln(out, "-- then the migrations are recorded as applied; the sample videos go only into an empty video table")
		return true, nil
	}
	if len(a.Statements) > 0 && o.ConfirmAdopt != nil {
		if err := o.ConfirmAdopt(); err != nil {
			return false, err
		}
	}
	if err := adopt(ctx, db, a, out, o.afterStatement); err != nil {
		return false, fmt.Errorf("%s: %w", where, err)
	}
	fmt.Fprintf(out, "adopted: %s is at schema version %d\n", where, sqlseed.Latest(sqlseed.MySQL))
	return false, nil
}
