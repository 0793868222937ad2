package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/acme"
	"github.com/qcloud-applet/applet/provision/mysqlschema"
	"github.com/qcloud-applet/applet/provision/tencent"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/game"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/video"
	"github.com/qcloud-applet/applet/templates"
)

type provisionOptions struct {
	IO        IOStreams
	Config    func(overrides map[string]string) (*config.Loaded, error)
	LookupEnv func(string) (string, bool)

	DryRun     bool
	Yes        bool
	HostBinary string
	Converge   bool
	// destroy only
	Force bool
	Purge bool
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
	cmd.Flags().StringVar(&opts.HostBinary, "host-binary", "", "linux/amd64 applet binary to install on the instance (default: this one)")
	cmd.AddCommand(newCmdProvisionDestroy(f, nil))
	cmd.AddCommand(newCmdProvisionRollback(f))
	return cmd
}

func newCmdProvisionDestroy(f *Factory, runF func(*provisionOptions) error) *cobra.Command {
	opts := &provisionOptions{IO: f.IO, Config: f.Config, LookupEnv: f.LookupEnv}
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Remove what provision made (asks first)",
		Long: `Remove the resources tagged applet-deployment=<deployment>: the DNS record, the instance, the security
group and the bucket. Other deployments' resources are never touched. A bucket that holds objects is kept
unless --force; the database's data is kept unless --purge.`,
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
	return cmd
}

// provisionEnv is what a run needs, built only once the command runs.
type provisionEnv struct {
	cfg     *config.Config
	client  *tencent.Client
	prov    *provision.Provisioner
	journal *provision.Journal
	lock    *provision.Lock
	creds   tencent.Credentials
	out     io.Writer
}

func (o *provisionOptions) getenv(k string) string {
	if o.LookupEnv == nil {
		return ""
	}
	v, _ := o.LookupEnv(k)
	return v
}

// checkProvisionConfig names the keys provision needs that are missing.
func checkProvisionConfig(l *config.Loaded) error {
	c := l.Config
	var errs config.Errors
	need := func(key, v, fix string) {
		if v == "" {
			errs = append(errs, &config.Error{Key: key, Source: l.Source[key], Reason: "required by provision", Fix: fix})
		}
	}
	need("domain", c.Domain, "set the domain the mini programs will call, e.g. applet.example.com")
	need("tencentcloud.region", c.TencentCloud.Region, "set the region, e.g. ap-guangzhou")
	need("tencentcloud.zone", c.TencentCloud.Zone, "set a zone of the region, e.g. ap-guangzhou-3")
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func dnsZone(c *config.Config) string {
	if c.Provision.DNSZone != "" {
		return c.Provision.DNSZone
	}
	labels := strings.Split(c.Domain, ".")
	if len(labels) < 2 {
		return c.Domain
	}
	return strings.Join(labels[len(labels)-2:], ".")
}

func setupProvision(ctx context.Context, o *provisionOptions, command string) (*provisionEnv, error) {
	l, err := o.Config(nil)
	if err != nil {
		return nil, err
	}
	if err := checkProvisionConfig(l); err != nil {
		return nil, err
	}
	c := l.Config
	// The environment wins over the credentials file, which wins over the config file; the loader has
	// already folded TENCENTCLOUD_* into the config, so a value from there counts as the environment.
	fromConfig := tencent.Credentials{SecretID: c.TencentCloud.SecretID, SecretKey: c.TencentCloud.SecretKey, Source: l.Source["tencentcloud.secret_id"]}
	home, _ := os.UserHomeDir()
	if h := o.getenv("HOME"); h != "" {
		home = h
	}
	creds, err := tencent.LoadCredentials(o.getenv, home, fromConfig)
	if err != nil {
		return nil, &HintError{Err: err, Hint: "export TENCENTCLOUD_SECRET_ID=... TENCENTCLOUD_SECRET_KEY=... (a CAM sub-account key with CVM, VPC, DNSPod and COS access)"}
	}
	tcfg := tencent.NewDefaultConfig(c.TencentCloud.Region)
	tcfg.Credentials = creds
	tcfg.Endpoint = c.TencentCloud.Endpoint
	tcfg.CallTimeout = c.Provision.CallTimeout
	client, err := tencent.New(tcfg)
	if err != nil {
		return nil, err
	}
	var buckets provision.Buckets
	var cosBuckets *tencent.Buckets
	if c.COS.Bucket != "" {
		bc := tencent.BucketConfig{Credentials: creds, Bucket: c.COS.Bucket, Region: c.COS.Region, Endpoint: c.COS.Endpoint, Timeout: c.Provision.CallTimeout}
		if c.COS.SecretID != "" {
			bc.Credentials = tencent.Credentials{SecretID: c.COS.SecretID, SecretKey: c.COS.SecretKey, Source: "cos.secret_id"}
		}
		if bc.Region == "" {
			bc.Region = c.TencentCloud.Region
		}
		b, err := tencent.NewBuckets(bc)
		if err != nil {
			return nil, err
		}
		buckets, cosBuckets = b, b
	}
	var schema provision.Schema
	if c.MySQL.DSN != "" {
		s, err := mysqlschema.New(c.MySQL.DSN)
		if err != nil {
			return nil, err
		}
		schema = s
	}
	dir := c.Provision.StateDir
	if dir == "" {
		dir = filepath.Join(c.DataDir, "provision")
	}
	lock, recovered, err := provision.AcquireLock(dir, c.Deployment, command)
	if err != nil {
		var le *provision.ErrLocked
		if errors.As(err, &le) {
			return nil, &HintError{Err: err, Hint: "wait for it to finish; if that process is gone for good, delete " + le.Path}
		}
		return nil, err
	}
	if recovered != "" {
		fmt.Fprintf(o.IO.ErrOut, "Note: %s.\n", recovered)
	}
	journal, err := provision.OpenJournal(dir, c.Deployment)
	if err != nil {
		lock.Release()
		return nil, err
	}
	if d := journal.Data(); d.Run != "" {
		fmt.Fprintf(o.IO.ErrOut, "Resuming: the last %s run (%s) did not finish; checking the cloud for what it did.\n", d.Run, d.Updated.Local().Format(time.DateTime))
	}
	env := &provisionEnv{cfg: c, client: client, journal: journal, lock: lock, creds: creds, out: o.IO.Out}
	var keyIDs []string
	for _, k := range strings.Split(c.Provision.KeyIDs, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keyIDs = append(keyIDs, k)
		}
	}
	pcfg := provision.Config{
		Deployment: c.Deployment, Domain: c.Domain, DNSZone: dnsZone(c), Region: c.TencentCloud.Region,
		Instance: provision.InstanceSpec{Zone: c.TencentCloud.Zone, ImageID: c.Provision.ImageID, Type: c.Provision.InstanceType,
			DiskGB: c.Provision.DiskGB, BandwidthMbps: c.Provision.BandwidthMbps, KeyIDs: keyIDs, UserData: []byte(cloudInit(c))},
		SSHCIDR: c.Provision.SSHCIDR, PollInterval: c.Provision.PollInterval, BootTimeout: c.Provision.BootTimeout,
	}
	deps := provision.Deps{Compute: client.Compute(), Firewall: client.Firewall(), DNS: client.DNS(), Buckets: buckets, Schema: schema}
	if !c.Provision.CloudOnly {
		if err := wireHostSide(o, c, dir, client, cosBuckets, &deps); err != nil {
			lock.Release()
			return nil, err
		}
	}
	env.prov, err = provision.New(pcfg, deps, journal, newProgress(o.IO).event)
	if err != nil {
		lock.Release()
		return nil, err
	}
	return env, nil
}

// cloudInit is the instance's first-boot script: only what is needed before the host step.
func cloudInit(c *config.Config) string {
	b, err := templates.New(templatesDir(c)).Render(templates.CloudInit, templates.Init{Deployment: c.Deployment, User: hostUser, DataDir: hostData})
	if err != nil {
		return "#cloud-config\n" // an override that does not render: the host step still converges
	}
	return string(b)
}

// mainlandRegion reports whether serving a domain from region needs ICP filing.
func mainlandRegion(region string) bool {
	if !strings.HasPrefix(region, "ap-") {
		return false
	}
	for _, r := range []string{"ap-hongkong", "ap-taipei", "ap-singapore", "ap-bangkok", "ap-jakarta", "ap-seoul", "ap-tokyo", "ap-mumbai", "ap-manila", "ap-kualalumpur"} {
		if region == r || strings.HasPrefix(region, r+"-") {
			return false
		}
	}
	return true
}

func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func provisionRun(ctx context.Context, o *provisionOptions) error {
	ctx, stop := signalContext(ctx)
	defer stop()
	start := time.Now()
	env, err := setupProvision(ctx, o, "provision")
	if err != nil {
		return err
	}
	defer env.lock.Release()
	c := env.cfg
	out := o.IO.Out
	fmt.Fprintf(out, "Deployment %s: %s in %s (%s), credentials %s\n", c.Deployment, c.Domain, c.TencentCloud.Region, c.TencentCloud.Zone, env.creds)
	plan, err := env.prov.Plan(ctx)
	if err != nil {
		return provisionError(err)
	}
	if o.Converge {
		plan.Converge()
	}
	printPlan(out, plan)
	if mainlandRegion(c.TencentCloud.Region) {
		fmt.Fprintf(out, "Warning: %s is in mainland China: %s serves on ports 80 and 443 only after the domain's ICP filing (备案) is done; provision cannot check it.\n", c.TencentCloud.Region, c.Domain)
	}
	if plan.NoChange() {
		fmt.Fprintln(out, "Nothing to change.")
		printSummary(out, c, provision.Result{})
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
	res, err := env.prov.Apply(ctx, plan)
	if err != nil {
		if ctx.Err() != nil {
			return &HintError{Err: errors.New("interrupted: the journal records how far it got"), Hint: "applet provision (it finishes what was started)"}
		}
		return provisionError(err)
	}
	fmt.Fprintf(out, "Done in %s.\n", time.Since(start).Round(100*time.Millisecond))
	printSummary(out, c, res)
	return nil
}

func destroyRun(ctx context.Context, o *provisionOptions) error {
	ctx, stop := signalContext(ctx)
	defer stop()
	env, err := setupProvision(ctx, o, "provision destroy")
	if err != nil {
		return err
	}
	defer env.lock.Release()
	out := o.IO.Out
	c := env.cfg
	fmt.Fprintf(out, "Deployment %s: %s in %s, credentials %s\n", c.Deployment, c.Domain, c.TencentCloud.Region, env.creds)
	plan, err := env.prov.PlanDestroy(ctx, provision.DestroyOptions{Force: o.Force, Purge: o.Purge})
	if err != nil {
		return provisionError(err)
	}
	printPlan(out, plan)
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
	if err := env.prov.Destroy(ctx, plan); err != nil {
		return provisionError(err)
	}
	fmt.Fprintln(out, "Removed.")
	return nil
}

func confirm(o *provisionOptions, q string) error {
	if o.Yes {
		return nil
	}
	if !o.IO.InIsTerminal {
		return &HintError{Err: errors.New("standard input is not a terminal, so nobody can confirm the plan; nothing was changed"), Hint: "add --yes to confirm in scripts"}
	}
	fmt.Fprintf(o.IO.ErrOut, "%s Type yes: ", q)
	line, err := bufio.NewReader(o.IO.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if strings.TrimSpace(line) != "yes" {
		return errors.New("not confirmed: nothing was changed")
	}
	return nil
}

// provisionError gives an API error's fix as the hint. Of several (steps read in parallel), a refused
// key comes first: it explains the others.
func provisionError(err error) error {
	var found []*tencent.APIError
	var walk func(error)
	walk = func(e error) {
		if ae, ok := e.(*tencent.APIError); ok {
			found = append(found, ae)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	var hint string
	for _, ae := range found {
		if ae.Fix != "" && strings.HasPrefix(ae.Code, "AuthFailure") {
			hint = ae.Fix
			break
		}
		if ae.Fix != "" && hint == "" {
			hint = ae.Fix
		}
	}
	if hint != "" {
		return &HintError{Err: err, Hint: hint}
	}
	return err
}

var planMark = map[provision.Action]string{provision.Create: "+", provision.Update: "~", provision.Replace: "±", provision.Delete: "-", provision.Keep: "=", provision.Skip: " "}

func printPlan(out io.Writer, plan *provision.Plan) {
	fmt.Fprintln(out, "Plan:")
	for _, c := range plan.Changes {
		fmt.Fprintf(out, "  %s %-15s %-8s %s\n", planMark[c.Action], c.Step, c.Action, c.Detail)
	}
	if plan.Price != nil {
		fmt.Fprintf(out, "Price: the instance costs %.2f %s an hour, plus %.2f %s per GB of outbound traffic.\n", plan.Price.PerHour, plan.Price.Currency, plan.Price.Traffic, plan.Price.Currency)
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(out, "Warning: %s\n", w)
	}
}

func printSummary(out io.Writer, c *config.Config, res provision.Result) {
	base := "https://" + c.Domain
	fmt.Fprintln(out, "Backends:")
	fmt.Fprintf(out, "  album    %s%s\n", base, album.BasePath)
	fmt.Fprintf(out, "  game     wss://%s%s\n", c.Domain, game.BasePath)
	fmt.Fprintf(out, "  session  %s%s\n", base, session.BasePath)
	fmt.Fprintf(out, "  video    %s%s\n", base, video.BasePath)
	download := base
	if c.COS.Bucket != "" {
		host := c.COS.Bucket + ".cos." + c.COS.Region + ".myqcloud.com"
		if c.COS.PublicDomain != "" {
			host = c.COS.PublicDomain
		}
		download += ", https://" + host
	}
	fmt.Fprintln(out, "Mini program console, Development → Server domains (开发管理 → 服务器域名):")
	fmt.Fprintf(out, "  request       %s\n  uploadFile    %s\n  downloadFile  %s\n  socket        wss://%s\n", base, base, download, c.Domain)
	switch {
	case res.PublicIP != "" && c.Provision.CloudOnly:
		fmt.Fprintf(out, "Instance %s at %s. With provision.cloud_only, the certificate, nginx and the services are yours to set up.\n", res.InstanceID, res.PublicIP)
	case res.PublicIP != "":
		fmt.Fprintf(out, "Instance %s at %s; the four backends answered through https://%s.\n", res.InstanceID, res.PublicIP, c.Domain)
	}
}

// progress prints one line per step as it ends (and, on a terminal, as it starts).
type progress struct {
	mu  sync.Mutex
	out io.Writer
	tty bool
}

func newProgress(io IOStreams) *progress { return &progress{out: io.Out, tty: io.ErrIsTerminal} }

func (p *progress) event(e provision.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Status == "running" {
		if p.tty {
			fmt.Fprintf(p.out, "  … %-15s running\n", e.Step)
		}
		return
	}
	mark := "✓"
	switch e.Status {
	case "failed":
		mark = "✗"
	case "skipped":
		mark = "-"
	}
	fmt.Fprintf(p.out, "  %s %-15s %-8s %6.1fs  %s\n", mark, e.Step, e.Status, e.Took.Seconds(), e.Detail)
}

// templatesDir is the directory of template overrides ("": the embedded templates only).
func templatesDir(c *config.Config) string { return c.Provision.TemplatesDir }

// wireHostSide adds the certificate, host and health steps.
func wireHostSide(o *provisionOptions, c *config.Config, stateDir string, client *tencent.Client, buckets *tencent.Buckets, deps *provision.Deps) error {
	if buckets == nil && c.Provision.SSHUser == "" {
		return &HintError{Err: errors.New("the host step delivers its bundle through a private COS object, and cos.bucket is empty"),
			Hint: "set cos.bucket (the album's bucket will do), or provision.ssh_user to deliver over SSH, or provision.cloud_only: true to make only the cloud resources"}
	}
	roots, err := rootPool(c.Provision.ACMERoots)
	if err != nil {
		return err
	}
	httpClient := &http.Client{Timeout: time.Minute}
	if roots != nil {
		httpClient.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	}
	ac, err := acme.New(acme.Config{Directory: c.Provision.ACMEDirectory, Email: c.Provision.ACMEEmail, HTTPClient: httpClient,
		Dir: filepath.Join(stateDir, c.Deployment+"-tls"), Resolvers: nonEmpty(c.Provision.DNSResolver)})
	if err != nil {
		return err
	}
	bin, err := hostBinaryPath(c, o.HostBinary)
	if err != nil {
		return err
	}
	deps.Certs = &acmeCerts{client: ac, dns: deps.DNS, zone: dnsZone(c), names: []string{c.Domain},
		live: liveCert(c.Domain, c.Provision.HTTPSPort, c.Provision.DNSResolver, roots)}
	deps.Host = &hostDelivery{cfg: c, binary: bin, tlsDir: filepath.Join(stateDir, c.Deployment+"-tls"), tpl: templates.New(templatesDir(c)),
		buckets: buckets, client: client, timeout: c.Provision.HostTimeout, knownHosts: filepath.Join(stateDir, c.Deployment+".known_hosts")}
	deps.Health = &httpsHealth{domain: c.Domain, port: c.Provision.HTTPSPort, roots: roots, timeout: c.Provision.HostTimeout}
	if _, warnings := hostConfigFor(c); len(warnings) > 0 {
		for _, w := range warnings {
			fmt.Fprintf(o.IO.ErrOut, "Warning: %s.\n", w)
		}
	}
	return nil
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
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
			env, err := setupProvision(ctx, opts, "provision rollback")
			if err != nil {
				return err
			}
			defer env.lock.Release()
			insts, err := env.client.Compute().FindInstances(ctx, provision.TagKey, env.cfg.Deployment)
			if err != nil {
				return provisionError(err)
			}
			if len(insts) != 1 {
				return fmt.Errorf("found %d instances of deployment %s; rollback needs exactly one", len(insts), env.cfg.Deployment)
			}
			fmt.Fprintf(opts.IO.Out, "Rolling %s on %s back to its previous applet binary, restarting the backends one by one.\n", env.cfg.Deployment, insts[0].ID)
			if err := confirm(opts, "Roll back?"); err != nil {
				return err
			}
			script := "set -eu\n\"${" + EnvHostRoot + ":-}" + hostBinary + "\" host rollback\n"
			res, err := env.client.RunCommand(ctx, insts[0].ID, script, env.cfg.Provision.HostTimeout)
			if err != nil {
				return provisionError(err)
			}
			if res.Status != "SUCCESS" || res.ExitCode != 0 {
				return fmt.Errorf("rollback on %s ended %s (exit %d):\n%s", insts[0].ID, res.Status, res.ExitCode, tail(res.Output, 20))
			}
			fmt.Fprintln(opts.IO.Out, strings.TrimSpace(res.Output))
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.Yes, "yes", false, "roll back without asking")
	return cmd
}
