package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/qcloud-applet/applet/provision/host"
)

type hostOptions struct {
	IO        IOStreams
	LookupEnv func(string) (string, bool)

	Root        string
	Bundle      string
	Fetch       host.Fetch // --from-cos: the bundle's secret part, read with the instance role
	NoSystemd   bool
	RenewBefore time.Duration
	Restore     string
	Within      time.Duration
}

func (o *hostOptions) options() host.Options {
	ho := host.OptionsFromEnv(getenv(o.LookupEnv), o.Root, o.NoSystemd, o.IO.ErrOut)
	ho.Restore = o.Restore
	return ho
}

func newCmdHost(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "host",
		Short: "Converge this machine from a bundle (run on the instance by provision)",
		Long: `The host side of provision. provision builds a bundle (binary, config, certificate, nginx site,
systemd units), hands it to the instance and runs "applet host apply" there. Applying twice changes
nothing the second time.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	opts := func() *hostOptions { return &hostOptions{IO: f.IO, LookupEnv: f.LookupEnv} }

	ao := opts()
	apply := &cobra.Command{
		Use:   "apply --bundle FILE | --from-cos BUCKET/KEY --sha256 DIGEST",
		Short: "Install the bundle's files; reload nginx and restart backends only when they changed",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (ao.Bundle == "") == (ao.Fetch.Key == "") {
				return &FlagError{Err: errors.New("one of --bundle and --from-cos is required"), Command: cmd.CommandPath()}
			}
			rep, err := host.ApplyBundle(cmd.Context(), ao.Bundle, ao.Fetch, ao.options())
			if rep != nil {
				fmt.Fprintln(ao.IO.Out, rep)
			}
			return err
		},
	}
	apply.Flags().StringVar(&ao.Bundle, "bundle", "", "the bundle (.tar.gz) provision made")
	apply.Flags().StringVar(&ao.Fetch.Key, "from-cos", "", "BUCKET/KEY of the bundle's secret part, read with the instance role")
	apply.Flags().StringVar(&ao.Fetch.Region, "cos-region", "", "the region of --from-cos's bucket")
	apply.Flags().StringVar(&ao.Fetch.SHA256, "sha256", "", "the digest --from-cos's object must have")
	apply.Flags().StringVar(&ao.Fetch.Endpoint, "cos-endpoint", "", "host:port to reach COS at instead of the bucket's domain")
	apply.Flags().StringVar(&ao.Fetch.Metadata, "metadata-url", "", "the instance metadata service's base URL (default the real one)")
	apply.Flags().StringVar(&ao.Root, "root", "", "converge this directory instead of / (default $"+host.EnvRoot+")")
	apply.Flags().BoolVar(&ao.NoSystemd, "no-systemd", false, "write the units but run no systemctl")
	apply.Flags().StringVar(&ao.Restore, "restore", "", "restore this backup before the backends start (a new instance)")

	ro := opts()
	renew := &cobra.Command{
		Use:   "renew",
		Short: "Renew the certificate over HTTP-01 when it is due, then reload nginx (run by a timer)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			renewed, rep, err := host.Renew(cmd.Context(), ro.options(), ro.RenewBefore)
			if err != nil {
				return err
			}
			if !renewed {
				fmt.Fprintln(ro.IO.Out, "host: the certificate is not due")
				return nil
			}
			fmt.Fprintln(ro.IO.Out, "host: certificate renewed;", rep)
			return nil
		},
	}
	renew.Flags().StringVar(&ro.Root, "root", "", "the host's root (default $"+host.EnvRoot+" or /)")
	renew.Flags().DurationVar(&ro.RenewBefore, "renew-before", 0, "renew when the certificate expires within this (default 720h)")

	bo := opts()
	rollback := &cobra.Command{
		Use:   "rollback",
		Short: "Put the previous applet binary back and restart the backends one by one",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := host.Rollback(cmd.Context(), bo.options())
			if rep != nil {
				fmt.Fprintln(bo.IO.Out, rep)
			}
			return err
		},
	}
	rollback.Flags().StringVar(&bo.Root, "root", "", "the host's root (default $"+host.EnvRoot+" or /)")

	do := opts()
	drain := &cobra.Command{
		Use:   "drain --within DURATION",
		Short: "Wait until the backends serve no request, or the time is up (an instance out of its load balancer)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if do.Within <= 0 {
				return &FlagError{Err: errors.New("--within must be positive, e.g. 30s"), Command: cmd.CommandPath()}
			}
			out, err := host.Drain(cmd.Context(), do.options(), do.Within)
			if err != nil {
				return err
			}
			fmt.Fprintln(do.IO.Out, out)
			return nil
		},
	}
	drain.Flags().StringVar(&do.Root, "root", "", "the host's root (default $"+host.EnvRoot+" or /)")
	drain.Flags().DurationVar(&do.Within, "within", 0, "the longest wait")
	cmd.AddCommand(apply, renew, rollback, drain)
	return cmd
}
