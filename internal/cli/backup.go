package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/qcloud-applet/applet/backup"
	"github.com/qcloud-applet/applet/backup/setup"
	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/wire"
	"github.com/qcloud-applet/applet/serve/redis"
	"github.com/spf13/cobra"
)

type backupOptions struct {
	IO     IOStreams
	Config func(overrides map[string]string) (*config.Loaded, error)
	To     string
}

func newCmdBackup(f *Factory) *cobra.Command {
	opts := &backupOptions{IO: f.IO, Config: f.Config}
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up every store of this deployment, then delete the backups past retention",
		Long: `Dump every store this configuration uses — videos and comments (MySQL in one transaction, or the
embedded SQLite file), drawings (MongoDB or SQLite), album files on local disk — into backup.to. Parts
are stored once by their content and shared between backups; a backup is its manifest, written last.
Backups past backup.keep_daily and backup.keep_weekly are then deleted, with the parts only they used.
Sessions (Redis) are not backed up: after a restore, users log in again.`,
		Example: "  applet backup\n  applet backup list\n  applet backup verify latest",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withBackups(cmd.Context(), opts, true, func(b *setup.Backups, cfg *config.Config) error {
				// Every instance of a deployment runs the backup timer: one backs up at a time, the
				// others see its lease in their shared Redis and skip (their data is the same).
				if cfg.Redis.Addr != "" {
					rdb := redis.NewClient(redis.Config{Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB, Timeout: 5 * time.Second})
					defer rdb.Close()
					lease, held, err := redis.TryLease(cmd.Context(), rdb, "applet:"+cfg.Deployment+":backup", 2*time.Hour)
					switch {
					case err != nil:
						fmt.Fprintf(opts.IO.ErrOut, "Note: could not take the backup lease in Redis (%v); backing up anyway.\n", err)
					case !held:
						fmt.Fprintf(opts.IO.Out, "Another instance of %s is backing up now (its lease is in Redis): skipped.\n", cfg.Deployment)
						return nil
					default:
						defer lease.Release(context.WithoutCancel(cmd.Context()))
					}
				}
				host, _ := os.Hostname()
				keep := backup.Retention{Daily: cfg.Backup.KeepDaily, Weekly: cfg.Backup.KeepWeekly, Grace: 24 * time.Hour}
				return b.Run(cmd.Context(), host, keep, opts.IO.Out)
			})
		},
	}
	cmd.PersistentFlags().StringVar(&opts.To, "to", "", "where backups are (overrides backup.to): cos://<name>-<appid>[/prefix] or a directory")
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the backups with their age and size, and the last verify",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withBackups(cmd.Context(), opts, false, func(b *setup.Backups, _ *config.Config) error { return b.WriteList(cmd.Context(), opts.IO.Out) })
		},
	}, &cobra.Command{
		Use:   "verify [ID|latest|all]",
		Short: "Download every part and check it against its manifest; load the newest dumps into scratch space",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			which := append(args, "all")[0]
			return withBackups(cmd.Context(), opts, false, func(b *setup.Backups, _ *config.Config) error {
				return b.VerifyWhich(cmd.Context(), which, opts.IO.Out)
			})
		},
	})
	return cmd
}

// withBackups opens the backups and stores the configuration names (forWrite: refusing a target on
// the instance's own disk) and closes them after fn.
func withBackups(ctx context.Context, opts *backupOptions, forWrite bool, fn func(*setup.Backups, *config.Config) error) error {
	overrides := map[string]string{}
	if opts.To != "" {
		overrides["backup.to"] = opts.To
	}
	loaded, err := opts.Config(overrides)
	if err != nil {
		return err
	}
	cfg := loaded.Config
	p, err := cfg.BackupPlan(forWrite)
	if err != nil {
		return err
	}
	b, err := setup.Open(wire.Backups(p))
	if err != nil {
		return err
	}
	defer b.Close()
	b.Progress = opts.IO.progress
	return fn(b, cfg)
}
