package cli

import (
	"fmt"

	"github.com/qcloud-applet/applet/internal/buildinfo"
	"github.com/spf13/cobra"
)

type versionOptions struct {
	IO IOStreams
}

func newCmdVersion(f *Factory, runF func(*versionOptions) error) *cobra.Command {
	opts := &versionOptions{IO: f.IO}
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of applet",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
}

func versionRun(opts *versionOptions) error {
	_, err := fmt.Fprintln(opts.IO.Out, buildinfo.String())
	return err
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &FlagError{Err: fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0]), Command: cmd.CommandPath()}
	}
	return nil
}
