// Package deploy opens one deployment for provision: it builds the Tencent Cloud clients, the bucket,
// the schema and (unless the run is cloud only) the certificate, host and health steps from plain
// options, takes the deployment's lock and opens its journal. The command layer fills Options from the
// configuration and calls Open; nothing here knows configuration keys.
package deploy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/internal/hint"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/acme"
	"github.com/qcloud-applet/applet/provision/deliver"
	"github.com/qcloud-applet/applet/provision/health"
	"github.com/qcloud-applet/applet/provision/host"
	"github.com/qcloud-applet/applet/provision/mysqlschema"
	"github.com/qcloud-applet/applet/provision/tencent"
	"github.com/qcloud-applet/applet/templates"
)

// Bucket is the album's bucket; provision makes it and the host step carries its bundle through it.
type Bucket struct {
	Name, Region, Endpoint string
	// Credentials, when set, replace the account's key for COS.
	Credentials *tencent.Credentials
}

// Backups is the deployment's private backup bucket: provision makes it, and the instance's role
// may write, list, read and delete under Prefix in it.
type Backups struct {
	Bucket, Prefix, Region, Endpoint string
	Credentials                      *tencent.Credentials
}

// HostSide is what the certificate, host and health steps need.
type HostSide struct {
	ACMEDirectory, ACMEEmail string
	// ACMERoots is a PEM file of extra roots (a private ACME CA); DNSResolver checks DNS-01 and resolves
	// the domain (host:port, empty: the system's).
	ACMERoots, DNSResolver string
	// Binary is the linux/amd64 applet for the host ("": this one, when it is linux/amd64).
	Binary       string
	TemplatesDir string
	Timeout      time.Duration
	// Warnings are printed to Notes once the host side is wired.
	Warnings []string
	// Deliver is the rest of the bundle: its Deployment, Domain, Binary, TLSDir, Templates, Buckets,
	// Client, Timeout and SSH.KnownHosts are filled here.
	Deliver deliver.Options
}

// Options describe the deployment and this run.
type Options struct {
	Deployment, Domain, DNSZone, Region string
	// Getenv and Home find the credentials (environment, ~/.tencentcloud/credentials); ConfigCredentials
	// are the config file's, used last.
	Getenv            func(string) string
	Home              string
	ConfigCredentials tencent.Credentials
	Endpoint          string // the API's endpoint ("": Tencent Cloud's)
	CallTimeout       time.Duration

	Bucket  *Bucket  // nil: no bucket
	Backups *Backups // nil: no backup bucket
	// InstanceRole is an existing CAM role to attach ("": provision makes applet-<deployment>);
	// AlbumFolder is the album's key prefix, which the role may write under.
	InstanceRole, AlbumFolder string
	Media                     []provision.MediaObject // the sample media the bucket serves
	MySQLDSN                  string                  // "": no schema step
	StateDir                  string                  // journal, lock, certificate, known hosts
	Command                   string                  // "provision", "provision destroy", ... for the lock

	Instance     provision.InstanceSpec // UserData is rendered here from the cloud-init template
	SSHCIDR      string
	PollInterval time.Duration
	BootTimeout  time.Duration
	HTTPSPort    int

	CloudOnly bool
	Host      HostSide

	// Instances above 1 run behind a load balancer whose requests come from LBRanges (CIDR blocks).
	Instances int
	LB        provision.LBSettings
	LBRanges  []string
	Network   provision.NetworkSettings
	Managed   provision.ManagedSettings

	// Notes receives what the operator should know (a lock taken over, a resumed run, warnings).
	Notes    io.Writer
	Progress func(provision.Event)
}

// Deployment is an opened deployment: Close releases its lock.
type Deployment struct {
	Provisioner *provision.Provisioner
	Client      *tencent.Client
	Credentials tencent.Credentials
	opts        Options
	lock        *provision.Lock
}

// Close releases the lock.
func (d *Deployment) Close() { d.lock.Release() }

// Open builds the clients, takes the lock and opens the journal.
func Open(ctx context.Context, o Options) (*Deployment, error) {
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Notes == nil {
		o.Notes = io.Discard
	}
	creds, err := tencent.LoadCredentials(o.Getenv, o.Home, o.ConfigCredentials)
	if err != nil {
		return nil, hint.New(err, "export TENCENTCLOUD_SECRET_ID=... TENCENTCLOUD_SECRET_KEY=... (a CAM sub-account key with CVM, VPC, DNSPod and COS access)")
	}
	tcfg := tencent.NewDefaultConfig(o.Region)
	tcfg.Credentials = creds
	tcfg.Endpoint = o.Endpoint
	tcfg.CallTimeout = o.CallTimeout
	client, err := tencent.New(tcfg)
	if err != nil {
		return nil, err
	}
	var buckets provision.Buckets
	var cosBuckets *tencent.Buckets
	if o.Bucket != nil {
		bc := tencent.BucketConfig{Credentials: creds, Bucket: o.Bucket.Name, Region: o.Bucket.Region, Endpoint: o.Bucket.Endpoint, Timeout: o.CallTimeout}
		if o.Bucket.Credentials != nil {
			bc.Credentials = *o.Bucket.Credentials
		}
		if bc.Region == "" {
			bc.Region = o.Region
		}
		b, err := tencent.NewBuckets(bc)
		if err != nil {
			return nil, err
		}
		buckets, cosBuckets = b, b
	}
	var vault provision.Vault
	if o.Backups != nil {
		bc := tencent.BucketConfig{Credentials: creds, Bucket: o.Backups.Bucket, Region: o.Backups.Region, Endpoint: o.Backups.Endpoint, Timeout: o.CallTimeout, Private: true}
		if o.Backups.Credentials != nil {
			bc.Credentials = *o.Backups.Credentials
		}
		if vault, err = tencent.NewBuckets(bc); err != nil {
			return nil, err
		}
	}
	var schema provision.Schema
	if o.MySQLDSN != "" {
		s, err := mysqlschema.New(o.MySQLDSN)
		if err != nil {
			return nil, err
		}
		schema = s
	}
	lock, recovered, err := provision.AcquireLock(o.StateDir, o.Deployment, o.Command)
	if err != nil {
		var le *provision.ErrLocked
		if errors.As(err, &le) {
			return nil, hint.New(err, "wait for it to finish; if that process is gone for good, delete "+le.Path)
		}
		return nil, err
	}
	if recovered != "" {
		fmt.Fprintf(o.Notes, "Note: %s.\n", recovered)
	}
	journal, err := provision.OpenJournal(o.StateDir, o.Deployment)
	if err != nil {
		lock.Release()
		return nil, err
	}
	if d := journal.Data(); d.Run != "" {
		fmt.Fprintf(o.Notes, "Resuming: the last %s run (%s) did not finish; checking the cloud for what it did.\n", d.Run, d.Updated.Local().Format(time.DateTime))
	}
	spec := o.Instance
	spec.UserData = []byte(CloudInit(o.Host.TemplatesDir, o.Deployment))
	pcfg := provision.Config{
		Deployment: o.Deployment, Domain: o.Domain, DNSZone: o.DNSZone, Region: o.Region, Instance: spec,
		SSHCIDR: o.SSHCIDR, PollInterval: o.PollInterval, BootTimeout: o.BootTimeout, Media: o.Media,
		Instances: o.Instances, LB: o.LB, Network: o.Network, Managed: o.Managed,
	}
	if o.Backups != nil {
		pcfg.BackupPrefix = o.Backups.Prefix
	}
	// The load balancer's client is there whatever the count, so that destroy finds one an earlier
	// configuration made.
	deps := provision.Deps{Compute: client.Compute(), Firewall: client.Firewall(), DNS: client.DNS(), Buckets: buckets, Vault: vault, Schema: schema,
		LoadBalancers: client, CertStore: client, Network: client.Network(), Databases: client.Databases()}
	if o.Bucket != nil || o.Backups != nil || o.InstanceRole != "" { // with no bucket the host needs no cloud access at all
		deps.Roles = client.Roles()
		pcfg.Role = RoleSpec(o)
	}
	if !o.CloudOnly {
		if err := hostSide(o, client, cosBuckets, &deps); err != nil {
			lock.Release()
			return nil, err
		}
	}
	prov, err := provision.New(pcfg, deps, journal, o.Progress)
	if err != nil {
		lock.Release()
		return nil, err
	}
	return &Deployment{Provisioner: prov, Client: client, Credentials: creds, opts: o, lock: lock}, nil
}

// RoleSpec is the CAM role of a deployment's instance and the one policy provision keeps on it.
func RoleSpec(o Options) provision.RoleSpec {
	r := provision.RoleSpec{Name: provision.RoleName(o.Deployment), PolicyName: provision.PolicyName(o.Deployment)}
	if o.InstanceRole != "" {
		return provision.RoleSpec{Name: o.InstanceRole, Existing: true}
	}
	var backups []tencent.BackupPlace
	if o.Backups != nil {
		backups = append(backups, tencent.BackupPlace{Bucket: o.Backups.Bucket, Prefix: o.Backups.Prefix})
	}
	if o.Bucket != nil || o.Backups != nil {
		region, album := o.Region, ""
		if o.Bucket != nil {
			album = o.Bucket.Name
			if o.Bucket.Region != "" {
				region = o.Bucket.Region
			}
		}
		r.Policy = tencent.HostPolicy(album, region, o.Deployment, o.AlbumFolder, backups...)
	}
	return r
}

// CloudInit is the instance's first-boot script: only what is needed before the host step.
func CloudInit(templatesDir, deployment string) string {
	b, err := templates.New(templatesDir).Render(templates.CloudInit, templates.Init{Deployment: deployment, User: host.User, DataDir: host.DataDir})
	if err != nil {
		return "#cloud-config\n" // an override that does not render: the host step still converges
	}
	return string(b)
}

// hostSide adds the certificate, host and health steps.
func hostSide(o Options, client *tencent.Client, buckets *tencent.Buckets, deps *provision.Deps) error {
	h := o.Host
	if buckets == nil && h.Deliver.SSH.User == "" {
		return hint.New(errors.New("the host step delivers its bundle through a private COS object, and cos.bucket is empty"),
			"set cos.bucket (the album's bucket will do), or provision.ssh_user to deliver over SSH, or provision.cloud_only: true to make only the cloud resources")
	}
	roots, err := acme.RootPool(h.ACMERoots)
	if err != nil {
		return err
	}
	httpClient := &http.Client{Timeout: time.Minute}
	if roots != nil {
		httpClient.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	}
	tlsDir := filepath.Join(o.StateDir, o.Deployment+"-tls")
	var resolvers []string
	if h.DNSResolver != "" {
		resolvers = []string{h.DNSResolver}
	}
	ac, err := acme.New(acme.Config{Directory: h.ACMEDirectory, Email: h.ACMEEmail, HTTPClient: httpClient, Dir: tlsDir, Resolvers: resolvers})
	if err != nil {
		return err
	}
	bin, err := hostBinary(h.Binary)
	if err != nil {
		return err
	}
	deps.Certs = &acme.Source{Client: ac, DNS: deps.DNS, Zone: o.DNSZone, Names: []string{o.Domain},
		Live: acme.LiveCert(o.Domain, o.HTTPSPort, h.DNSResolver, roots)}
	do := h.Deliver
	do.Deployment, do.Domain, do.Binary, do.TLSDir = o.Deployment, o.Domain, bin, tlsDir
	do.Templates, do.Buckets, do.Client, do.Timeout = templates.New(h.TemplatesDir), buckets, client, h.Timeout
	do.SSH.KnownHosts = filepath.Join(o.StateDir, o.Deployment+".known_hosts")
	if o.Instances > 1 || o.LB.Always {
		do.LBRanges = o.LBRanges
	}
	if deps.Host, err = deliver.New(do); err != nil {
		return err
	}
	deps.Health = &health.HTTPS{Domain: o.Domain, Port: o.HTTPSPort, Roots: roots, Timeout: h.Timeout}
	for _, w := range h.Warnings {
		fmt.Fprintf(o.Notes, "Warning: %s.\n", w)
	}
	return nil
}

// hostBinary is the binary installed on the instance: the one given, or this one when it runs on
// linux/amd64.
func hostBinary(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		return os.Executable()
	}
	return "", hint.New(fmt.Errorf("this applet is %s/%s; the instance needs linux/amd64", runtime.GOOS, runtime.GOARCH),
		"build one (GOOS=linux GOARCH=amd64 go build ./cmd/applet) and pass --host-binary PATH")
}

// Instance is the deployment's one instance.
func (d *Deployment) Instance(ctx context.Context) (provision.Instance, error) {
	insts, err := d.Client.Compute().FindInstances(ctx, provision.TagKey, d.opts.Deployment)
	if err != nil {
		return provision.Instance{}, err
	}
	if len(insts) != 1 {
		return provision.Instance{}, fmt.Errorf("found %d instances of deployment %s; rollback needs exactly one", len(insts), d.opts.Deployment)
	}
	return insts[0], nil
}

// Rollback puts the previous applet binary back on the instance and returns the host's report.
func (d *Deployment) Rollback(ctx context.Context, in provision.Instance) (string, error) {
	script := host.Script("\"$root" + host.BinaryPath + "\" host rollback\n")
	res, err := d.Client.RunCommand(ctx, in.ID, script, d.opts.Host.Timeout)
	if err != nil {
		return "", err
	}
	if res.Status != "SUCCESS" || res.ExitCode != 0 {
		return "", fmt.Errorf("rollback on %s ended %s (exit %d):\n%s", in.ID, res.Status, res.ExitCode, host.Tail(res.Output, 20))
	}
	return strings.TrimSpace(res.Output), nil
}
