package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/provision/mysqlschema"
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
	// DropOrphans deletes comments of deleted videos while adopting the original demo's tables.
	DropOrphans bool
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
confirm by typing its name (or with --yes).

A database that holds the original video demo's tables (or applet's tables without a record of their
migrations) is adopted in place, after the plan is shown and confirmed (--yes): utf8mb4, timestamps, the
comment index and foreign key; every row is kept, and the sample videos are never added beside your own.`,
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
	cmd.Flags().BoolVar(&opts.DropOrphans, "drop-orphans", false, "while adopting the original demo's tables, delete comments of videos that no longer exist (kept otherwise)")
	return cmd
}

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
	return mysqlschema.Seed(ctx, dsn, mysqlschema.SeedOptions{DryRun: opts.DryRun, Reset: opts.Reset, NoSeed: opts.NoSeed, NoCreate: opts.NoCreate, Out: opts.IO.Out,
		DropOrphans: opts.DropOrphans,
		ConfirmAdopt: func() error {
			return confirmTyped(opts.IO, opts.Yes, "Convert these tables in place? Type yes: ", "yes",
				"adopting the original tables needs confirmation, but standard input is not a terminal (the plan is above; --dry-run shows every statement)", "not confirmed: nothing was changed")
		},
		Confirm: func(name, addr string) error {
			return confirmTyped(opts.IO, opts.Yes, fmt.Sprintf("This drops database %s on %s with every comment in it.\nType the database name to confirm: ", name, addr), name,
				"--reset drops the database and needs confirmation, but standard input is not a terminal", "not confirmed: nothing was dropped")
		}})
}
