package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/report"
	"github.com/qcloud-applet/applet/provision/tencent"
)

type provisionOptions struct {
	IO        IOStreams
	Config    func(overrides map[string]string) (*config.Loaded, error)
	LookupEnv func(string) (string, bool)

	DryRun     bool
	Yes        bool
	HostBinary string
	Converge   bool
	Restore    string // latest, a backup id or none: what a new instance gets
	// destroy only
	Force, Purge, PurgeBackups bool
}

func newCmdProvision(f *Factory, runF func(*provisionOptions) error) *cobra.Command {
	opts := &provisionOptions{IO: f.IO, Config: f.Config, LookupEnv: f.LookupEnv}
	cmd := &cobra.Command{
		Use:   "provision",
		Short: "Create or fix the deployment's cloud side: security group, instance, DNS record, bucket, schema",
		Long: `Read what exists in the Tencent Cloud account (resources tagged applet-deployment=<deployment>),
show the plan with the instance's hourly price, ask for confirmation, then create or fix what is missing
or wrong, in parallel where steps do not depend on each other. Running it again changes nothing that is
already right, and finishes a run that was interrupted.

Credentials come from TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, then ~/.tencentcloud/credentials,
then tencentcloud.secret_id and tencentcloud.secret_key in the config file. They are never printed.`,
		Example: "  applet provision --dry-run\n  applet provision --yes\n  applet provision destroy",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return provisionRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show the plan and stop (read calls only)")
	cmd.Flags().BoolVar(&opts.Yes, "yes", false, "apply without asking")
	cmd.Flags().BoolVar(&opts.Converge, "converge", false, "run the host step even when the bundle did not change (repairs a host changed by hand)")
	cmd.Flags().StringVar(&opts.Restore, "restore", "", "when an instance is created and backups exist: latest, a backup id, or none (default: ask on a terminal, else none)")
	cmd.Flags().StringVar(&opts.HostBinary, "host-binary", "", "linux/amd64 applet binary to install on the instance (default: this one)")
	cmd.AddCommand(newCmdProvisionDestroy(f, nil))
	cmd.AddCommand(newCmdProvisionRollback(f))
	return cmd
}

func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func provisionRun(ctx context.Context, o *provisionOptions) error {
	ctx, stop := signalContext(ctx)
	defer stop()
	start := time.Now()
	d, c, err := openDeployment(ctx, o, "provision")
	if err != nil {
		return err
	}
	defer d.Close()
	out := o.IO.Out
	fmt.Fprintf(out, "Deployment %s: %s in %s (%s), credentials %s\n", c.Deployment, c.Domain, c.TencentCloud.Region, c.TencentCloud.Zone, d.Credentials)
	plan, err := d.Provisioner.Plan(ctx)
	if err != nil {
		return provisionError(err)
	}
	if o.Converge {
		plan.Converge()
	}
	report.Plan(out, plan)
	if o.Restore == "" && plan.NewInstance() && len(plan.Backups) > 0 && o.IO.InIsTerminal && !o.DryRun &&
		confirmTyped(o.IO, false, "Backups of this deployment exist: restore the latest onto the new instance? Type yes: ", "yes", "", "") == nil {
		o.Restore = "latest"
	}
	if note, err := plan.ChooseRestore(o.Restore); err != nil {
		return &FlagError{Err: err, Command: "applet provision"}
	} else if note != "" {
		fmt.Fprintln(out, note)
	}
	if provision.Mainland(c.TencentCloud.Region) {
		fmt.Fprintf(out, "Warning: %s is in mainland China: %s serves on ports 80 and 443 only after the domain's ICP filing (备案) is done; provision cannot check it.\n", c.TencentCloud.Region, c.Domain)
	}
	site := report.Site{Domain: c.Domain, CloudOnly: c.Provision.CloudOnly}
	if c.COS.Bucket != "" {
		site.ImageHost = report.BucketHost(c.COS.Bucket, c.COS.Region, c.COS.PublicDomain)
	}
	if plan.NoChange() {
		fmt.Fprintln(out, "Nothing to change.")
		report.Summary(out, site, provision.Result{})
		return nil
	}
	if o.DryRun {
		fmt.Fprintln(out, "Dry run: nothing was changed.")
		return nil
	}
	if err := confirm(o, "Apply these changes?"); err != nil {
		return err
	}
	fmt.Fprintln(out, "Applying:")
	res, err := d.Provisioner.Apply(ctx, plan)
	if err != nil {
		if ctx.Err() != nil {
			return &HintError{Err: errors.New("interrupted: the journal records how far it got"), Hint: "applet provision (it finishes what was started)"}
		}
		return provisionError(err)
	}
	fmt.Fprintf(out, "Done in %s.\n", time.Since(start).Round(100*time.Millisecond))
	report.Summary(out, site, res)
	return nil
}

func confirm(o *provisionOptions, q string) error {
	return confirmTyped(o.IO, o.Yes, q+" Type yes: ", "yes", "standard input is not a terminal, so nobody can confirm the plan; nothing was changed", "not confirmed: nothing was changed")
}

// provisionError gives an API error's fix as the hint.
func provisionError(err error) error {
	if h := tencent.Hint(err); h != "" {
		return &HintError{Err: err, Hint: h}
	}
	return err
}
