package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/report"
)

func newCmdProvisionDestroy(f *Factory, runF func(*provisionOptions) error) *cobra.Command {
	opts := &provisionOptions{IO: f.IO, Config: f.Config, LookupEnv: f.LookupEnv}
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Remove what provision made (asks first)",
		Long: `Remove the resources tagged applet-deployment=<deployment>: the DNS record, the instance, the security
group and the bucket. Other deployments' resources are never touched. A bucket that holds objects is kept
unless --force; the database's data is kept unless --purge; the backup bucket, backups and all,
unless --purge-backups.

Instances are found by tag and by the local journal (also one whose create was cut off before its answer
came). Destroy ends with a census of everything that still carries the deployment's tag: it says
"Removed." and exits 0 only when nothing is left but what is kept on purpose (listed, with the flag that
would remove it); otherwise it names what is left and exits 1.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return destroyRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be removed and stop")
	cmd.Flags().BoolVar(&opts.Yes, "yes", false, "remove without asking")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "also delete the bucket's objects and the bucket")
	cmd.Flags().BoolVar(&opts.Purge, "purge", false, "also drop the database")
	cmd.Flags().BoolVar(&opts.PurgeBackups, "purge-backups", false, "also delete the backup bucket and every backup in it")
	return cmd
}

func destroyRun(ctx context.Context, o *provisionOptions) error {
	ctx, stop := signalContext(ctx)
	defer stop()
	d, c, err := openDeployment(ctx, o, "provision destroy")
	if err != nil {
		return err
	}
	defer d.Close()
	out := o.IO.Out
	fmt.Fprintf(out, "Deployment %s: %s in %s, credentials %s\n", c.Deployment, c.Domain, c.TencentCloud.Region, d.Credentials)
	plan, err := d.Provisioner.PlanDestroy(ctx, provision.DestroyOptions{Force: o.Force, Purge: o.Purge, PurgeBackups: o.PurgeBackups})
	if err != nil {
		return provisionError(err)
	}
	report.Plan(out, plan)
	if plan.NoChange() {
		fmt.Fprintln(out, "Nothing to remove.")
		return nil
	}
	if o.DryRun {
		fmt.Fprintln(out, "Dry run: nothing was removed.")
		return nil
	}
	if err := confirm(o, "Remove these resources? This cannot be undone."); err != nil {
		return err
	}
	fmt.Fprintln(out, "Removing:")
	if err := d.Provisioner.Destroy(ctx, plan); err != nil {
		var left *provision.LeftError
		if errors.As(err, &left) {
			return &HintError{Err: err, Hint: left.Hint()}
		}
		return provisionError(err)
	}
	for _, k := range plan.Kept {
		fmt.Fprintf(out, "Kept: %s.\n", k)
	}
	fmt.Fprintln(out, "Removed.")
	return nil
}

func newCmdProvisionRollback(f *Factory) *cobra.Command {
	opts := &provisionOptions{IO: f.IO, Config: f.Config, LookupEnv: f.LookupEnv}
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Put the previous applet binary back on the instance and restart the backends one by one",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			d, c, err := openDeployment(ctx, opts, "provision rollback")
			if err != nil {
				return err
			}
			defer d.Close()
			if c.Provision.Instances > 1 || c.Provision.LoadBalancer {
				fmt.Fprintf(opts.IO.Out, "Rolling %s back to the previous applet binary, one instance at a time, each out of the load balancer while it does.\n", c.Deployment)
				if err := confirm(opts, "Roll back?"); err != nil {
					return err
				}
				done, err := d.Provisioner.RollEach(ctx, "rolling back", func(ctx context.Context, in provision.Instance) error {
					rep, err := d.Rollback(ctx, in)
					if err == nil {
						fmt.Fprintf(opts.IO.Out, "%s: %s\n", in.ID, rep)
					}
					return err
				})
				if err != nil {
					return provisionError(err)
				}
				fmt.Fprintf(opts.IO.Out, "Rolled back %s.\n", strings.Join(done, ", "))
				return nil
			}
			in, err := d.Instance(ctx)
			if err != nil {
				return provisionError(err)
			}
			fmt.Fprintf(opts.IO.Out, "Rolling %s on %s back to its previous applet binary, restarting the backends one by one.\n", c.Deployment, in.ID)
			if err := confirm(opts, "Roll back?"); err != nil {
				return err
			}
			rep, err := d.Rollback(ctx, in)
			if err != nil {
				return provisionError(err)
			}
			fmt.Fprintln(opts.IO.Out, rep)
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.Yes, "yes", false, "roll back without asking")
	return cmd
}
