// Package cli is applet's command layer: one file per command, each with an options struct, a
// constructor that only parses flags and a run function that does the work. It is the only place that
// wires configuration to the domain packages.
package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Main runs applet with the process's arguments and returns the exit code.
func Main() int {
	return run(context.Background(), newFactory(), nil)
}

func run(ctx context.Context, f *Factory, args []string) int {
	root := NewCmdRoot(f)
	if args != nil {
		root.SetArgs(args)
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	err := root.ExecuteContext(ctx)
	code, hint := exitCode(err)
	if err != nil && err.Error() != "" {
		fmt.Fprintf(f.IO.ErrOut, "Error: %s\n", err)
		if hint != "" {
			fmt.Fprintf(f.IO.ErrOut, "Try: %s\n", hint)
		}
	}
	return code
}

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "applet",
		Short: "Provision and serve WeChat mini program backends on Tencent Cloud",
		Long: strings.TrimSpace(`
applet takes a mini program team from a Tencent Cloud account to four running HTTPS backends:
a photo album, rock-paper-scissors over WebSocket, login sessions with a drawing store, and a
video list with comments. With no configuration, "applet serve all" runs them on embedded
defaults (local disk, in-process stores).`),
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE:          func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.PersistentFlags().StringVar(&f.ConfigPath, "config", "", "config file (default $APPLET_CONFIG or ./applet.yaml)")
	root.PersistentFlags().StringVar(&f.LogLevel, "log-level", "", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&f.LogFormat, "log-format", "", "log format: auto, text, json")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &FlagError{Err: err, Command: cmd.CommandPath()}
	})

	root.AddCommand(newCmdVersion(f, nil))
	root.AddCommand(newCmdInit(f, nil))
	root.AddCommand(newCmdServe(f, nil))
	root.AddCommand(newCmdSeedMySQL(f, nil))
	root.AddCommand(newCmdProvision(f, nil))
	root.AddCommand(newCmdHost(f))
	root.AddCommand(newCmdDoctor(f, nil))
	root.AddCommand(newCmdBackup(f), newCmdRestore(f))
	return root
}
