package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/serve/mysql"
	"github.com/qcloud-applet/applet/sqlseed"
	"github.com/spf13/cobra"
)

type seedMySQLOptions struct {
	IO       IOStreams
	Config   func(overrides map[string]string) (*config.Loaded, error)
	DSN      string
	DryRun   bool
	Reset    bool
	Yes      bool
	NoSeed   bool
	NoCreate bool
}

func newCmdSeedMySQL(f *Factory, runF func(*seedMySQLOptions) error) *cobra.Command {
	opts := &seedMySQLOptions{IO: f.IO, Config: f.Config}
	cmd := &cobra.Command{
		Use:   "seed-mysql",
		Short: "Create the video schema and sample videos in MySQL, idempotently",
		Long: `Connect with mysql.dsn (or --dsn), create the database if it is missing, apply the video schema's
pending migrations and the sample seed, and print what was done. Running it again does nothing: applied
migrations and seeds are recorded in the database, and sample rows you deleted are not brought back.

--dry-run prints the SQL it would run and changes nothing. --reset drops the database first, after you
confirm by typing its name (or with --yes).`,
		Example: "  APPLET_MYSQL_DSN='applet:secret@tcp(127.0.0.1:3306)/applet' applet seed-mysql\n  applet seed-mysql --dry-run",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return seedMySQLRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.DSN, "dsn", "", "MySQL DSN user:pass@tcp(host:3306)/db (overrides mysql.dsn; prefer APPLET_MYSQL_DSN, flags show in ps)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print the SQL that would run, change nothing")
	cmd.Flags().BoolVar(&opts.Reset, "reset", false, "drop and recreate the database (asks first)")
	cmd.Flags().BoolVar(&opts.Yes, "yes", false, "do not ask before --reset")
	cmd.Flags().BoolVar(&opts.NoSeed, "no-seed", false, "apply the schema only, not the sample videos")
	cmd.Flags().BoolVar(&opts.NoCreate, "no-create-db", false, "fail instead of creating a missing database")
	return cmd
}

var dbNameRE = regexp.MustCompile(`^[A-Za-z0-9_$-]{1,64}$`)

func seedMySQLRun(ctx context.Context, opts *seedMySQLOptions) error {
	overrides := map[string]string{}
	if opts.DSN != "" {
		overrides["mysql.dsn"] = opts.DSN
	}
	loaded, err := opts.Config(overrides)
	if err != nil {
		return err
	}
	dsn := loaded.MySQL.DSN
	if dsn == "" {
		return &HintError{Err: errors.New("no MySQL to seed: mysql.dsn is empty"), Hint: "set APPLET_MYSQL_DSN='user:pass@tcp(host:3306)/applet' (or mysql.dsn in the config file, or --dsn)"}
	}
	db, mcfg, err := mysql.Open(dsn)
	if err != nil {
		return err
	}
	db.Close()
	name := mcfg.DBName
	if !dbNameRE.MatchString(name) {
		return &HintError{Err: fmt.Errorf("mysql.dsn names no usable database (got %q)", name), Hint: "end the DSN with /<database>, e.g. ...@tcp(host:3306)/applet"}
	}
	where := mysql.Describe(mcfg)
	out := opts.IO.Out
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
		return &HintError{Err: fail("connecting", err), Hint: "check that MySQL is running and reachable, and the user and password in mysql.dsn"}
	}
	exists := n > 0
	dry := func(stmt string) { fmt.Fprintf(out, "%s;\n", strings.TrimSpace(stmt)) }

	if opts.Reset && exists {
		drop := "DROP DATABASE `" + name + "`"
		if opts.DryRun {
			dry(drop)
		} else {
			if err := confirmReset(opts, name, mcfg.Addr); err != nil {
				return err
			}
			if _, err := server.ExecContext(ctx, drop); err != nil {
				return fail("dropping database "+name, err)
			}
			fmt.Fprintf(out, "dropped database %s\n", name)
		}
		exists = false
	}
	if !exists {
		if opts.NoCreate {
			return &HintError{Err: fmt.Errorf("%s: database %s does not exist", where, name), Hint: "create it, or run without --no-create-db"}
		}
		create := "CREATE DATABASE IF NOT EXISTS `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
		if opts.DryRun {
			dry(create)
		} else {
			if _, err := server.ExecContext(ctx, create); err != nil {
				return &HintError{Err: fail("creating database "+name, err), Hint: "create it as an administrator, or grant CREATE to the user in mysql.dsn"}
			}
			fmt.Fprintf(out, "created database %s\n", name)
		}
	}

	withSeed := !opts.NoSeed
	if opts.DryRun {
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
	m := &sqlseed.Migrator{DB: db, Dialect: sqlseed.MySQL, Progress: func(s sqlseed.Step, d time.Duration) {
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
	if withSeed {
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

// confirmReset asks for the database's name; without a terminal it needs --yes.
func confirmReset(opts *seedMySQLOptions, name, addr string) error {
	if opts.Yes {
		return nil
	}
	if !opts.IO.InIsTerminal {
		return &HintError{Err: errors.New("--reset drops the database and needs confirmation, but standard input is not a terminal"), Hint: "add --yes to confirm in scripts"}
	}
	fmt.Fprintf(opts.IO.ErrOut, "This drops database %s on %s with every comment in it.\nType the database name to confirm: ", name, addr)
	line, err := bufio.NewReader(opts.IO.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if strings.TrimSpace(line) != name {
		return errors.New("not confirmed: nothing was dropped")
	}
	return nil
}
