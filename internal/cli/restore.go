package cli

import (
	"github.com/qcloud-applet/applet/backup/setup"
	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/provision/host"
	"github.com/spf13/cobra"
)

func newCmdRestore(f *Factory) *cobra.Command {
	opts := &backupOptions{IO: f.IO, Config: f.Config}
	var ro setup.RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore [--from ID|latest]",
		Short: "Put every store back as it was in a backup",
		Long: `Check every part of the backup first, then put every store this configuration uses back as it was.
Data newer than the backup (a comment, video or drawing past it, an album file not in it) is not
overwritten without --force. On a host the backends are stopped while it writes and started after; a
local setup is refused while an applet serve uses the same data directory. A restore killed midway
is finished by running it again.`,
		Example: "  applet restore\n  applet restore --from 20261202T030000Z-1a2b3c --to /mnt/drill",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withBackups(cmd.Context(), opts, false, func(b *setup.Backups, cfg *config.Config) error {
				ro.DataDir = cfg.DataDir
				ho := host.OptionsFromEnv(getenv(f.LookupEnv), "", false, opts.IO.ErrOut)
				ro.WhileStopped = func(run func() error) error { return host.WhileStopped(cmd.Context(), ho, run) }
				return b.Restore(cmd.Context(), ro, opts.IO.Out)
			})
		},
	}
	cmd.Flags().StringVar(&ro.From, "from", "latest", "the backup to restore: an id from applet backup list, or latest")
	cmd.Flags().BoolVar(&ro.Force, "force", false, "overwrite data newer than the backup")
	cmd.Flags().StringVar(&opts.To, "to", "", "where backups are (overrides backup.to): cos://<name>-<appid>[/prefix] or a directory")
	return cmd
}
