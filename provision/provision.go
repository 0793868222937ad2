// Package provision builds and tears down a deployment's cloud side: a security group, an instance, a
// DNS record, a bucket and the database schema. The cloud is the source of truth: every step reads what
// exists (found by the deployment's tag or name) before it changes anything, so running it again is
// always safe and an interrupted run is finished by the next one. A local journal only caches ids and
// the instance's ClientToken, and a lock keeps two runs apart.
//
// The interfaces below are what a cloud must offer; provision/tencent implements them over the
// Tencent Cloud SDKs and COS, provision/mysqlschema over sqlseed.
package provision

import (
	"context"
	"errors"
	"strings"
)

// TagKey is the tag every resource carries, with the deployment's name as value.
const TagKey = "applet-deployment"

// ErrNotFound is returned by lookups of a single resource that does not exist.
var ErrNotFound = errors.New("not found")

// Instance states, as CVM reports them.
const (
	StatePending      = "PENDING"
	StateRunning      = "RUNNING"
	StateLaunchFailed = "LAUNCH_FAILED"
	StateTerminating  = "TERMINATING"
	StateStopped      = "STOPPED"
	StateShutdown     = "SHUTDOWN" // stopped by the account's arrears; only a top-up starts it
)

// Instance is a virtual machine.
type Instance struct {
	ID, Name, State, PublicIP, Zone, Type, ImageID string
	Role                                           string // the CAM role attached ("" for none)
	VpcID                                          string // "": the account's default network
}

// InstanceSpec is the instance a deployment asks for.
type InstanceSpec struct {
	Name, Zone, ImageID, Type string
	DiskGB, BandwidthMbps     int
	SecurityGroupID           string
	KeyIDs                    []string
	UserData                  []byte
	ClientToken               string // makes a replayed create return the first answer
	Role                      string // the CAM role it runs with ("" for none)
	VpcID, SubnetID           string // "": the account's default network
	Tags                      map[string]string
}

// Price is what an instance costs.
type Price struct {
	PerHour  float64 // instance, in CNY
	Currency string
	Traffic  float64 // per GB of outbound traffic
}

// Compute manages instances.
type Compute interface {
	// Zones lists the availability zones of the region.
	Zones(ctx context.Context) ([]string, error)
	// FindInstances returns the instances carrying the tag, in any state but gone.
	FindInstances(ctx context.Context, tagKey, tagValue string) ([]Instance, error)
	// Instance returns one instance, or ErrNotFound (also for a moment after RunInstance).
	Instance(ctx context.Context, id string) (Instance, error)
	Price(ctx context.Context, spec InstanceSpec) (Price, error)
	RunInstance(ctx context.Context, spec InstanceSpec) (string, error)
	// StartInstance starts a stopped instance.
	StartInstance(ctx context.Context, id string) error
	// SetRole attaches a CAM role to a running instance (replacing the one it has).
	SetRole(ctx context.Context, id, role string) error
	TerminateInstance(ctx context.Context, id string) error
}

// Rule is one ingress rule.
type Rule struct {
	Protocol, Port, CIDR string
	Group                string // the source is this security group's members instead of CIDR
	Index                int    // position in the group, for removal
}

// SecurityGroup is a firewall attached to instances.
type SecurityGroup struct {
	ID, Name string
	Rules    []Rule
}

// Firewall manages security groups.
type Firewall interface {
	// FindGroups returns the groups with the name that carry the tag, with their ingress rules.
	FindGroups(ctx context.Context, name, tagKey, tagValue string) ([]SecurityGroup, error)
	// GroupByID reads one group by id (tag queries lag behind a create), or ErrNotFound.
	GroupByID(ctx context.Context, id string) (SecurityGroup, error)
	CreateGroup(ctx context.Context, name, description string, tags map[string]string) (string, error)
	AddRules(ctx context.Context, id string, rules []Rule) error
	RemoveRules(ctx context.Context, id string, rules []Rule) error
	// DeleteGroup fails while an instance still uses the group; callers retry.
	DeleteGroup(ctx context.Context, id string) error
}

// Record is a DNS record; Name is relative to the zone ("@" for the apex).
type Record struct {
	ID                        uint64
	Name, Type, Value, Remark string
	TTL                       int
}

// DNS manages the records of a zone.
type DNS interface {
	// Records returns the zone's records with the name and type (none: an empty slice).
	Records(ctx context.Context, zone, name, typ string) ([]Record, error)
	CreateRecord(ctx context.Context, zone string, r Record) (uint64, error)
	ModifyRecord(ctx context.Context, zone string, r Record) error
	DeleteRecord(ctx context.Context, zone string, id uint64) error
}

// BucketState is what a bucket looks like.
type BucketState struct {
	Exists      bool
	PublicRead  bool // anyone may read, and only the account may write
	PublicWrite bool // anyone may write (never what the album wants)
	CORS        bool // allows the mini program's methods from any origin
	Tags        map[string]string
	HasObjects  bool            // holds objects other than the sample media provision puts there
	Media       map[string]bool // the sample media keys it holds
	// BundleExpiry: a lifecycle rule expires host bundles after a day (a killed run may leave one).
	BundleExpiry bool
}

// MediaPrefix is where in the bucket provision puts the sample videos' posters and clips: the same
// path the video app serves them at, so a relative URL resolves against either.
const MediaPrefix = "applet/video/media/"

// MediaObject is one sample media file for the bucket.
type MediaObject struct {
	Key, ContentType string
	Data             []byte
}

// Buckets manages the album's bucket.
type Buckets interface {
	Name() string
	// URL is the bucket's public address.
	URL() string
	Bucket(ctx context.Context) (BucketState, error)
	// CreateBucket makes a public-read, private-write bucket carrying the tags from the start.
	CreateBucket(ctx context.Context, tags map[string]string) error
	SetPublicRead(ctx context.Context) error
	SetCORS(ctx context.Context) error
	SetTags(ctx context.Context, tags map[string]string) error
	// Empty deletes every object.
	Empty(ctx context.Context) error
	// SetBundleExpiry adds the lifecycle rule that expires host bundles; RemoveBundleExpiry takes it
	// away. Both keep the bucket's other rules.
	SetBundleExpiry(ctx context.Context) error
	RemoveBundleExpiry(ctx context.Context) error
	// PutMedia writes a public object of the sample media.
	PutMedia(ctx context.Context, m MediaObject) error
	DeleteBucket(ctx context.Context) error
}

// Schema is the video database.
type Schema interface {
	// Describe names the database without its password.
	Describe() string
	// Pending returns how many migrations and seeds are not applied; ErrUnreachable when the
	// database cannot be reached from here.
	Pending(ctx context.Context) (int, error)
	Apply(ctx context.Context) error
	// Purge drops the database.
	Purge(ctx context.Context) error
}

// ErrUnreachable means a database cannot be reached from this machine (it listens on the instance).
var ErrUnreachable = errors.New("not reachable from here")

// Mainland reports whether serving a domain from region needs ICP filing.
func Mainland(region string) bool {
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

// Zone is the DNS zone that holds domain: zone when set, else the domain's last two labels.
func Zone(domain, zone string) string {
	if zone != "" {
		return zone
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return domain
	}
	return strings.Join(labels[len(labels)-2:], ".")
}
