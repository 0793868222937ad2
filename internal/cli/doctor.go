package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/qcloud-applet/applet/doctor"
	"github.com/qcloud-applet/applet/internal/config"
)

type doctorOptions struct {
	IO        IOStreams
	Config    func(overrides map[string]string) (*config.Loaded, error)
	LookupEnv func(string) (string, bool)

	JSON    bool
	Only    []string
	Skip    []string
	Timeout time.Duration
	// OnHost: this is the instance; services on loopback are checked here, not through the command service.
	OnHost bool
	// Dev: the backends run with serve --dev (logins from the stand-in).
	Dev bool
}

func newCmdDoctor(f *Factory, runF func(*doctorOptions) error) *cobra.Command {
	opts := &doctorOptions{IO: f.IO, Config: f.Config, LookupEnv: f.LookupEnv}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a deployment end to end and say what is wrong and how to fix it",
		Long: `Check the configuration, the Tencent Cloud key, DNS, the certificate and TLS versions, nginx (paths,
WebSocket upgrade, upload limit), every backend and its stores, the bucket, ICP filing and the mini program
console's domains. Each check prints ok, warn, fail or skipped (with the reason), what it saw, and the fix.

Without a domain it checks a local setup (applet serve --dev) and skips what does not apply.
Exit status: 0 nothing failed, 1 something failed, 2 doctor could not run.`,
		Example: "  applet doctor\n  applet doctor --only tls,dns\n  applet doctor --json --skip credentials",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return doctorRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the results as JSON")
	cmd.Flags().StringSliceVar(&opts.Only, "only", nil, "run only these checks or groups, e.g. tls,dns")
	cmd.Flags().StringSliceVar(&opts.Skip, "skip", nil, "skip these checks or groups")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 20*time.Second, "bound on each check")
	cmd.Flags().BoolVar(&opts.OnHost, "on-host", false, "this machine is the instance: check its loopback services here")
	cmd.Flags().BoolVar(&opts.Dev, "dev", false, "the backends run with serve --dev (logins from the built-in stand-in)")
	return cmd
}

func doctorRun(ctx context.Context, o *doctorOptions) error {
	var overrides map[string]string
	if o.Dev {
		overrides = map[string]string{"session.dev": "true"}
	}
	l, err := o.Config(overrides)
	var ce config.Errors
	var results []doctor.Result
	switch {
	case errors.As(err, &ce):
		var lines []string
		for _, e := range ce {
			lines = append(lines, e.Error())
		}
		results = doctor.ConfigInvalid(lines)
	case err != nil:
		return &CodeError{Code: ExitUsage, Err: fmt.Errorf("doctor could not run: %w", err)}
	default:
		all := doctor.Checks(doctor.Options{Loaded: l, LookupEnv: o.LookupEnv, OnHost: o.OnHost})
		checks, err := doctor.Select(all, o.Only, o.Skip)
		if err != nil {
			return &CodeError{Code: ExitUsage, Err: err}
		}
		results = doctor.Run(ctx, checks, o.Timeout)
	}
	if o.JSON {
		doctor.WriteJSON(o.IO.Out, results)
	} else {
		doctor.WriteTable(o.IO.Out, results, o.IO.OutIsTerminal)
	}
	if doctor.AnyFailed(results) {
		return &CodeError{Code: ExitError}
	}
	return nil
}
