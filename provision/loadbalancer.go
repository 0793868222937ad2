package provision

import "context"

// LoadBalancer is a public layer-7 load balancer in front of the instances.
type LoadBalancer struct {
	ID, Name string
	Ready    bool     // its create task is done
	VIPs     []string // its addresses; they change when Domain is set
	Domain   string   // a domain-name load balancer's name ("": VIPs are fixed)
	Tags     map[string]string
}

// LoadBalancerSpec is the load balancer a deployment asks for.
type LoadBalancerSpec struct {
	Name, VpcID, SubnetID string
	ClientToken           string
	Tags                  map[string]string
}

// Listener is a load balancer's port.
type Listener struct {
	ID, Name, Protocol string // HTTP or HTTPS
	Port               int
	CertID             string   // an HTTPS listener's certificate
	RedirectsTo        string   // an HTTP listener that redirects to this HTTPS listener
	Rules              []LBRule // forwarding rules (layer-7 health checks live on them)
}

// LBRule forwards a domain and path prefix to targets, which it checks for health.
type LBRule struct {
	ID, Domain, URL string
	HealthPath      string // "" turns the check off
}

// Target is an instance's port behind a rule.
type Target struct {
	InstanceID string
	Port       int
	Weight     int    // 0 sends it no new requests
	Health     string // Alive, Dead, Unknown (not checked yet) or Close (checks off); reads only
}

// LoadBalancers manages load balancers. Their writes are asynchronous in the cloud: each method returns
// once the change is in effect (or has failed).
type LoadBalancers interface {
	FindLoadBalancers(ctx context.Context, tagKey, tagValue string) ([]LoadBalancer, error)
	// LoadBalancer reads one by id (tag queries lag behind a create), or ErrNotFound.
	LoadBalancer(ctx context.Context, id string) (LoadBalancer, error)
	CreateLoadBalancer(ctx context.Context, spec LoadBalancerSpec) (string, error)
	DeleteLoadBalancer(ctx context.Context, id string) error
	Listeners(ctx context.Context, lbID string) ([]Listener, error)
	// CreateListener makes an HTTP or HTTPS listener (certID for HTTPS).
	CreateListener(ctx context.Context, lbID, protocol string, port int, name, certID string) (string, error)
	SetListenerCertificate(ctx context.Context, lbID, listenerID, certID string) error
	CreateRule(ctx context.Context, lbID, listenerID string, r LBRule) (string, error)
	// RedirectHTTP makes port 80 answer the domains with a redirect to the HTTPS listener on 443.
	RedirectHTTP(ctx context.Context, lbID, httpsListenerID string, domains []string) error
	// Targets lists a rule's targets with their weights and health.
	Targets(ctx context.Context, lbID, listenerID, ruleID string) ([]Target, error)
	RegisterTargets(ctx context.Context, lbID, listenerID, ruleID string, ts []Target) error
	DeregisterTargets(ctx context.Context, lbID, listenerID, ruleID string, ts []Target) error
	SetWeight(ctx context.Context, lbID, listenerID, ruleID string, t Target) error
}

// CertificateInfo is an uploaded certificate.
type CertificateInfo struct {
	ID, Domain string
	NotAfter   string // as the service prints it, China time
}

// CertificateStore is the cloud's certificate service, where load balancers take their certificates.
type CertificateStore interface {
	UploadCertificate(ctx context.Context, certPEM, keyPEM, alias string, tags map[string]string) (string, error)
	Certificate(ctx context.Context, id string) (CertificateInfo, error)
	DeleteCertificate(ctx context.Context, id string) error
}

// VPC is a private network; Subnet one of its subnets, in one zone.
type VPC struct {
	ID, Name, CIDR string
	Tags           map[string]string
}

// Subnet is a VPC's subnet.
type Subnet struct {
	ID, VpcID, Name, CIDR, Zone string
	Tags                        map[string]string
}

// Network manages the deployment's VPC and subnet.
type Network interface {
	// FindVPCs returns the VPCs with the name that carry the tag (by name, then the tag checked on each:
	// the tag index lags behind a create).
	FindVPCs(ctx context.Context, name, tagKey, tagValue string) ([]VPC, error)
	// VPC and Subnet read one by id, or ErrNotFound.
	VPC(ctx context.Context, id string) (VPC, error)
	CreateVPC(ctx context.Context, name, cidr string, tags map[string]string) (string, error)
	DeleteVPC(ctx context.Context, id string) error
	// FindSubnets returns the VPC's subnets with the name.
	FindSubnets(ctx context.Context, vpcID, name string) ([]Subnet, error)
	Subnet(ctx context.Context, id string) (Subnet, error)
	CreateSubnet(ctx context.Context, vpcID, name, cidr, zone string, tags map[string]string) (string, error)
	DeleteSubnet(ctx context.Context, id string) error
}
