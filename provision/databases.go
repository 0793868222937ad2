package provision

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qcloud-applet/applet/internal/atomicfile"
)

// A deployment of several instances keeps its data in managed databases in its VPC: TencentDB for
// MySQL (videos and comments), for Redis (sessions and game rooms) and for MongoDB (drawings).
// Provision creates the ones whose store the configuration leaves empty, or adopts the one it names
// by address, and puts each in a security group that admits only the instances. The passwords it
// generates are kept in the state directory (0600) and in the hosts' configs, nowhere else.

// StepManaged is the managed databases' step.
const StepManaged = "tencentdb"

// DBKind is a managed database's engine.
type DBKind string

// The engines.
const (
	KindMySQL DBKind = "mysql"
	KindRedis DBKind = "redis"
	KindMongo DBKind = "mongodb"
)

// Product names the engine's TencentDB product for people.
func (k DBKind) Product() string {
	return map[DBKind]string{KindMySQL: "TencentDB for MySQL", KindRedis: "TencentDB for Redis", KindMongo: "TencentDB for MongoDB"}[k]
}

// Port is the engine's usual port.
func (k DBKind) Port() int {
	return map[DBKind]int{KindMySQL: 3306, KindRedis: 6379, KindMongo: 27017}[k]
}

// ManagedDB is a managed database instance.
type ManagedDB struct {
	Kind            DBKind
	ID, Name        string
	Ready           bool // created and running
	Isolated        bool // on its way out
	Releasable      bool // isolated: it may be taken offline
	Host            string
	Port            int
	VpcID, SubnetID string
	Tags            map[string]string
}

// Addr is where the instances reach it.
func (d ManagedDB) Addr() string { return net.JoinHostPort(d.Host, strconv.Itoa(d.Port)) }

// ManagedDBSpec is a managed database a deployment asks for.
type ManagedDBSpec struct {
	Kind                        DBKind
	Name, Zone, VpcID, SubnetID string
	Password                    string // of root (MySQL), the default user (Redis) or mongouser (MongoDB)
	ClientToken                 string // where the API takes one
	SecurityGroups              []string
	Tags                        map[string]string
}

// Databases manages TencentDB instances.
type Databases interface {
	// FindDatabases returns the instances of kind with the name (their tags may not be readable while
	// they are created: the caller checks them).
	FindDatabases(ctx context.Context, kind DBKind, name string) ([]ManagedDB, error)
	// Database reads one by id, or ErrNotFound.
	Database(ctx context.Context, kind DBKind, id string) (ManagedDB, error)
	// DatabaseAt finds the instance of kind that answers at host:port, or ErrNotFound.
	DatabaseAt(ctx context.Context, kind DBKind, host string, port int) (ManagedDB, error)
	CreateDatabase(ctx context.Context, spec ManagedDBSpec) (string, error)
	// SetupMySQL makes the database and an account with every privilege on it and nothing else; what
	// exists already is kept.
	SetupMySQL(ctx context.Context, id, database, user, password string) error
	// Groups lists the security groups an instance is in; SetGroups replaces them.
	Groups(ctx context.Context, kind DBKind, id string) ([]string, error)
	SetGroups(ctx context.Context, kind DBKind, id string, groups []string) error
	// DeleteDatabase isolates the instance and takes it offline, with its data.
	DeleteDatabase(ctx context.Context, kind DBKind, id string) error
}

// ManagedSettings say which stores provision makes and which it adopts.
type ManagedSettings struct {
	Create []DBKind          // stores the configuration leaves empty: provision makes them
	Adopt  map[DBKind]string // stores the configuration names (host:port)
	Ready  time.Duration     // how long a new database may take (0: 20 minutes)
}

// Secrets are the managed databases' credentials: kept in the state directory, next to the journal,
// and delivered only to the hosts.
type Secrets struct {
	MySQL *DBSecret `json:"mysql,omitempty"`
	Redis *DBSecret `json:"redis,omitempty"`
	Mongo *DBSecret `json:"mongodb,omitempty"`
}

// DBSecret is one managed database's place and credentials.
type DBSecret struct {
	ID           string `json:"id,omitempty"`
	Addr         string `json:"addr,omitempty"` // host:port, once it runs
	User         string `json:"user,omitempty"`
	Password     string `json:"password"`
	Database     string `json:"database,omitempty"`      // MySQL: the backends' database
	RootPassword string `json:"root_password,omitempty"` // MySQL: root's, for people
	ClientToken  string `json:"client_token,omitempty"`
	// SetUp: MySQL's database and account are made (a run that stopped before cannot tell from the
	// instance's state alone).
	SetUp bool `json:"set_up,omitempty"`
}

func (s *Secrets) of(k DBKind) **DBSecret {
	switch k {
	case KindMySQL:
		return &s.MySQL
	case KindRedis:
		return &s.Redis
	}
	return &s.Mongo
}

// SecretsPath is where a deployment's database credentials are kept.
func SecretsPath(stateDir, deployment string) string {
	return filepath.Join(stateDir, deployment+".databases.json")
}

// ReadSecrets reads a deployment's database credentials (none yet: empty).
func ReadSecrets(stateDir, deployment string) (Secrets, error) {
	var s Secrets
	b, err := os.ReadFile(SecretsPath(stateDir, deployment))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reading the databases' credentials: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("reading %s: %w", SecretsPath(stateDir, deployment), err)
	}
	return s, nil
}

// Stores are the addresses and credentials of the managed databases, as the backends use them.
type Stores struct {
	MySQLDSN, RedisAddr, RedisPassword, MongoURI string
}

// Stores turns the credentials into the backends' settings ("" for a store not made by provision).
func (s Secrets) Stores() Stores {
	var out Stores
	if m := s.MySQL; m != nil && m.Addr != "" {
		out.MySQLDSN = fmt.Sprintf("%s:%s@tcp(%s)/%s", m.User, m.Password, m.Addr, m.Database)
	}
	if r := s.Redis; r != nil && r.Addr != "" {
		out.RedisAddr, out.RedisPassword = r.Addr, r.Password
	}
	if m := s.Mongo; m != nil && m.Addr != "" {
		out.MongoURI = fmt.Sprintf("mongodb://%s:%s@%s/?authSource=admin", m.User, m.Password, m.Addr)
	}
	return out
}

// password makes a password every engine accepts: letters and digits with one underscore.
func password() string {
	const alnum = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 22)
	rand.Read(b)
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = alnum[int(c)%len(alnum)]
	}
	// Two kinds at least, whatever the draw: a digit and an underscore.
	return "A" + string(out[:10]) + "_" + string(out[10:]) + "7"
}

// secrets guards the credentials file of a run.
type secrets struct {
	mu   sync.Mutex
	path string
}

func (p *Provisioner) secretsFile() *secrets {
	return &secrets{path: SecretsPath(filepath.Dir(p.journal.Path()), p.cfg.Deployment)}
}

// update changes the credentials and writes them at once (0600), before what they are for is made.
func (s *secrets) update(f func(*Secrets)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur Secrets
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &cur); err != nil {
			return fmt.Errorf("reading %s: %w", s.path, err)
		}
	}
	f(&cur)
	out, _ := json.MarshalIndent(cur, "", "  ")
	out = append(out, '\n')
	if string(out) == string(b) || (b == nil && cur == Secrets{}) {
		return nil // a run with nothing to change (or no managed database) writes nothing
	}
	if err := atomicfile.Write(s.path, out, 0o600); err != nil {
		return fmt.Errorf("writing the databases' credentials: %w", err)
	}
	return nil
}

func (s *secrets) read() Secrets {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur Secrets
	if b, err := os.ReadFile(s.path); err == nil {
		json.Unmarshal(b, &cur)
	}
	return cur
}

// DBGroupName is the security group of the managed databases.
func (p *Provisioner) DBGroupName() string { return "applet-" + p.cfg.Deployment + "-db" }

// DBName is the name of the deployment's managed database of kind.
func (p *Provisioner) DBName(k DBKind) string { return "applet-" + p.cfg.Deployment + "-" + string(k) }

// mysqlAccount is the backends' MySQL account and database: one per deployment, so that two
// deployments may share an instance.
func (p *Provisioner) mysqlAccount() string {
	var b strings.Builder
	for _, r := range strings.ToLower(p.cfg.Deployment) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := "applet_" + b.String()
	return s[:min(len(s), 32)]
}

type managedSeen struct {
	group   *SecurityGroup
	dbs     map[DBKind]*ManagedDB // found (made by provision, or adopted)
	groupOf map[DBKind][]string   // their security groups
	foreign map[DBKind]bool       // adopted addresses that are no TencentDB instance of the account
}

func (p *Provisioner) managed() bool {
	return p.cluster() && p.deps.Databases != nil && (len(p.cfg.Managed.Create) > 0 || len(p.cfg.Managed.Adopt) > 0)
}

func (p *Provisioner) dbKinds() []DBKind {
	var ks []DBKind
	for _, k := range []DBKind{KindMySQL, KindRedis, KindMongo} {
		if slices.Contains(p.cfg.Managed.Create, k) || p.cfg.Managed.Adopt[k] != "" {
			ks = append(ks, k)
		}
	}
	return ks
}

// findManaged finds the database of kind provision made: by name and tag, or by the id it wrote down
// (a new one's tags cannot be read yet). An isolated one counts only for destroy (it still holds its
// subnet and security group until it is taken offline).
func (p *Provisioner) findManaged(ctx context.Context, k DBKind, isolated bool) (*ManagedDB, error) {
	dbs, err := p.deps.Databases.FindDatabases(ctx, k, p.DBName(k))
	if err != nil {
		return nil, err
	}
	sec := p.secretsFile().read()
	var want string
	if s := *sec.of(k); s != nil {
		want = s.ID
	}
	// A create whose answer was lost: its instance's tags cannot be read until it runs.
	pending := *sec.of(k) != nil && want == ""
	for _, d := range dbs {
		if d.Isolated && !isolated {
			continue
		}
		if d.Tags[TagKey] == p.cfg.Deployment || (d.ID == want && want != "") || (pending && len(d.Tags) == 0) {
			return &d, nil
		}
	}
	if want != "" {
		d, err := p.deps.Databases.Database(ctx, k, want)
		if err == nil && (!d.Isolated || isolated) {
			return &d, nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return nil, nil
}

// planManaged reads the managed databases and their security group.
func (p *Provisioner) planManaged(ctx context.Context, rd *reads) {
	if !p.managed() {
		return
	}
	rd.run(func() {
		seen := managedSeen{dbs: map[DBKind]*ManagedDB{}, groupOf: map[DBKind][]string{}, foreign: map[DBKind]bool{}}
		groups, err := p.deps.Firewall.FindGroups(ctx, p.DBGroupName(), TagKey, p.cfg.Deployment)
		if err != nil {
			rd.fail(StepManaged, err)
			return
		}
		if len(groups) > 0 {
			seen.group = &groups[0]
		}
		var todo, ok []string
		mysql := p.secretsFile().read().MySQL
		for _, k := range p.dbKinds() {
			var d *ManagedDB
			if addr := p.cfg.Managed.Adopt[k]; addr != "" {
				host, port, _ := net.SplitHostPort(addr)
				n, _ := strconv.Atoi(port)
				got, err := p.deps.Databases.DatabaseAt(ctx, k, host, n)
				switch {
				case errors.Is(err, ErrNotFound):
					seen.foreign[k] = true
					ok = append(ok, fmt.Sprintf("%s at %s (not a %s instance of this account: its access is yours to limit)", k, addr, k.Product()))
					continue
				case err != nil:
					rd.fail(StepManaged, err)
					return
				}
				d = &got
			} else if d, err = p.findManaged(ctx, k, false); err != nil {
				rd.fail(StepManaged, err)
				return
			}
			if d == nil {
				todo = append(todo, fmt.Sprintf("create %s %s", k.Product(), p.DBName(k)))
				continue
			}
			seen.dbs[k] = d
			gs, err := p.deps.Databases.Groups(ctx, k, d.ID)
			if err != nil {
				rd.fail(StepManaged, err)
				return
			}
			seen.groupOf[k] = gs
			inGroup := seen.group != nil && slices.Contains(gs, seen.group.ID)
			switch {
			case !d.Ready:
				todo = append(todo, fmt.Sprintf("wait for %s %s to run", k, d.ID))
			case !inGroup:
				todo = append(todo, fmt.Sprintf("admit only the instances to %s %s", k, d.ID))
			case k == KindMySQL && mysql == nil && p.cfg.Managed.Adopt[k] == "":
				rd.fail(StepManaged, fmt.Errorf("%s %s has no credentials in %s: restore that file from a copy, or delete the instance in the console to have a new one made", k, d.ID, p.secretsFile().path))
				return
			case k == KindMySQL && p.cfg.Managed.Adopt[k] == "" && !mysql.SetUp:
				todo = append(todo, fmt.Sprintf("make the backends' database and account on %s", d.ID))
			default:
				ok = append(ok, fmt.Sprintf("%s %s at %s", k, d.ID, d.Addr()))
			}
		}
		rd.mu.Lock()
		rd.plan.cluster.managed = seen
		rd.mu.Unlock()
		if seen.group == nil && len(seen.dbs)+len(todo) > len(seen.foreign) {
			todo = append([]string{"security group " + p.DBGroupName() + " admitting only the instances"}, todo...)
		}
		if len(todo) == 0 {
			rd.set(Change{StepManaged, Keep, strings.Join(ok, "; ")})
			return
		}
		action := Update
		if len(seen.dbs) == 0 && seen.group == nil {
			action = Create
		}
		rd.set(Change{StepManaged, action, strings.Join(todo, "; ")})
	})
}

// dbRules admit the instances' security group to the ports of the engines whose databases are in
// the group (not those adopted from elsewhere).
func (p *Provisioner) dbRules(instGroup string, foreign map[DBKind]bool) []Rule {
	var rs []Rule
	for _, k := range p.dbKinds() {
		if foreign[k] {
			continue
		}
		rs = append(rs, Rule{Protocol: "TCP", Port: strconv.Itoa(k.Port()), Group: instGroup})
	}
	return rs
}

// applyManaged makes the databases' security group and the databases, waits until they run and
// writes their addresses next to their passwords.
func (p *Provisioner) applyManaged(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepManaged)
	seen := plan.cluster.managed
	p.mu.Lock()
	instGroup := p.res.SecurityGroupID
	p.mu.Unlock()
	sec := p.secretsFile()
	if c.Action == Keep {
		return "ok", c.Detail, p.recordAddrs(sec, seen.dbs)
	}
	dbg := ""
	if seen.group != nil {
		dbg = seen.group.ID
		missing, _ := diffRules(seen.group.Rules, p.dbRules(instGroup, seen.foreign))
		if len(missing) > 0 {
			if err := p.deps.Firewall.AddRules(ctx, dbg, missing); err != nil {
				return "", "", fmt.Errorf("adding rules to %s: %w", dbg, err)
			}
		}
	} else if len(seen.foreign) < len(p.dbKinds()) {
		id, err := p.deps.Firewall.CreateGroup(ctx, p.DBGroupName(), "applet deployment "+p.cfg.Deployment+": its managed databases, reached only from its instances", p.tags())
		if err != nil {
			return "", "", fmt.Errorf("creating the databases' security group: %w", err)
		}
		if err := p.deps.Firewall.AddRules(ctx, id, p.dbRules(instGroup, seen.foreign)); err != nil {
			return "", "", fmt.Errorf("adding rules to %s: %w", id, err)
		}
		dbg = id
	}
	nw := plan.cluster.net
	p.mu.Lock()
	vpcID, subnetID := p.res.VpcID, p.res.SubnetID
	p.mu.Unlock()
	if vpcID == "" && nw.vpc != nil && nw.subnet != nil {
		vpcID, subnetID = nw.vpc.ID, nw.subnet.ID
	}
	var wg sync.WaitGroup
	errs := make([]error, len(p.dbKinds()))
	made := make([]*ManagedDB, len(p.dbKinds()))
	for i, k := range p.dbKinds() {
		if seen.foreign[k] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := p.ensureDB(ctx, sec, k, seen.dbs[k], seen.groupOf[k], dbg, vpcID, subnetID)
			made[i], errs[i] = d, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", "", err
	}
	dbs := map[DBKind]*ManagedDB{}
	var out []string
	for i, k := range p.dbKinds() {
		if made[i] != nil {
			dbs[k] = made[i]
			out = append(out, fmt.Sprintf("%s %s at %s", k, made[i].ID, made[i].Addr()))
		}
	}
	if err := p.recordAddrs(sec, dbs); err != nil {
		return "", "", err
	}
	status := "updated"
	if c.Action == Create {
		status = "created"
	}
	return status, strings.Join(out, "; "), nil
}

// ensureDB makes (or finds) one database, waits until it runs, puts it in the group and, for MySQL,
// makes the backends' database and account.
func (p *Provisioner) ensureDB(ctx context.Context, sec *secrets, k DBKind, d *ManagedDB, groups []string, dbg, vpcID, subnetID string) (*ManagedDB, error) {
	dbs := p.deps.Databases
	adopted := p.cfg.Managed.Adopt[k] != ""
	if d == nil {
		// The password (and the ClientToken) are written down before the create: a run killed after
		// it finds the same instance with a password it knows.
		var spec ManagedDBSpec
		if err := sec.update(func(s *Secrets) {
			cur := *s.of(k)
			if cur == nil || cur.ID != "" { // a new one, or one whose instance is gone: fresh credentials
				cur = &DBSecret{Password: password(), ClientToken: NewToken(p.cfg.Deployment)}
				if k == KindMySQL {
					cur.RootPassword, cur.User, cur.Database = cur.Password, p.mysqlAccount(), p.mysqlAccount()
					cur.Password = password()
				}
				if k == KindMongo {
					cur.User = "mongouser"
				}
				*s.of(k) = cur
			}
			spec = ManagedDBSpec{Kind: k, Name: p.DBName(k), Zone: p.cfg.Instance.Zone, VpcID: vpcID, SubnetID: subnetID,
				Password: cur.Password, ClientToken: cur.ClientToken, SecurityGroups: []string{dbg}, Tags: p.tags()}
			if k == KindMySQL {
				spec.Password = cur.RootPassword
			}
		}); err != nil {
			return nil, err
		}
		id, err := dbs.CreateDatabase(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", k.Product(), err)
		}
		if err := sec.update(func(s *Secrets) { (*s.of(k)).ID = id }); err != nil {
			return nil, err
		}
		d = &ManagedDB{Kind: k, ID: id}
		groups = []string{dbg}
	}
	if !d.Ready {
		got, err := p.waitDB(ctx, k, d.ID)
		if err != nil {
			return nil, err
		}
		d = got
	}
	if dbg != "" && !slices.Contains(groups, dbg) {
		if err := dbs.SetGroups(ctx, k, d.ID, append(slices.Clone(groups), dbg)); err != nil {
			return nil, fmt.Errorf("putting %s %s in %s: %w", k, d.ID, dbg, err)
		}
	}
	if k == KindMySQL && !adopted {
		s := sec.read().MySQL
		if s == nil {
			return nil, fmt.Errorf("%s %s has no credentials in %s", k, d.ID, sec.path)
		}
		if err := dbs.SetupMySQL(ctx, d.ID, s.Database, s.User, s.Password); err != nil {
			return nil, fmt.Errorf("making database %s and account %s on %s: %w", s.Database, s.User, d.ID, err)
		}
		if err := sec.update(func(s *Secrets) { s.MySQL.SetUp = true }); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// waitDB waits until a database runs.
func (p *Provisioner) waitDB(ctx context.Context, k DBKind, id string) (*ManagedDB, error) {
	limit := p.cfg.Managed.Ready
	if limit <= 0 {
		limit = 20 * time.Minute
	}
	deadline := time.Now().Add(limit)
	for {
		d, err := p.deps.Databases.Database(ctx, k, id)
		switch {
		case err == nil && d.Ready:
			return &d, nil
		case err != nil && !errors.Is(err, ErrNotFound): // a new one may not be listed yet
			return nil, err
		case time.Now().After(deadline):
			return nil, fmt.Errorf("%s %s did not run within %s: look at it in the console, then run applet provision again", k.Product(), id, limit)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(p.cfg.PollInterval):
		}
	}
}

// recordAddrs writes where the databases answer next to their credentials (adopted ones have none).
func (p *Provisioner) recordAddrs(sec *secrets, dbs map[DBKind]*ManagedDB) error {
	return sec.update(func(s *Secrets) {
		for k, d := range dbs {
			if p.cfg.Managed.Adopt[k] != "" {
				continue
			}
			if cur := *s.of(k); cur != nil {
				cur.ID, cur.Addr = d.ID, d.Addr()
			}
		}
	})
}

// planDestroyManaged: the databases hold the deployment's data, so destroy deletes them only with
// --purge; adopted ones are never deleted.
func (p *Provisioner) planDestroyManaged(ctx context.Context, rd *reads, opts DestroyOptions) {
	if p.deps.Databases == nil {
		return
	}
	rd.run(func() {
		var found []ManagedDB
		for _, k := range []DBKind{KindMySQL, KindRedis, KindMongo} {
			d, err := p.findManaged(ctx, k, true)
			if err != nil {
				rd.fail(StepManaged, err)
				return
			}
			if d != nil {
				found = append(found, *d)
			}
		}
		groups, err := p.deps.Firewall.FindGroups(ctx, p.DBGroupName(), TagKey, p.cfg.Deployment)
		if err != nil {
			rd.fail(StepManaged, err)
			return
		}
		rd.mu.Lock()
		rd.plan.cluster.dbsFound, rd.plan.cluster.dbGroups = found, groups
		rd.mu.Unlock()
		var names []string
		for _, d := range found {
			names = append(names, string(d.Kind)+" "+d.ID)
		}
		switch {
		case len(found) == 0 && len(groups) == 0:
			rd.set(Change{StepManaged, Skip, "none"})
		case len(found) == 0:
			rd.set(Change{StepManaged, Delete, "security group " + groups[0].ID})
		case !opts.Purge:
			rd.set(Change{StepManaged, Skip, strings.Join(names, ", ") + ": data kept (--purge deletes them)"})
			rd.mu.Lock()
			rd.plan.Kept = append(rd.plan.Kept, "managed databases "+strings.Join(names, ", ")+", their security group, the instances' security group and the network (--purge deletes them)")
			rd.plan.keepManaged = true
			rd.mu.Unlock()
		default:
			rd.set(Change{StepManaged, Delete, strings.Join(names, ", ") + " with their data, and their security group"})
		}
	})
}

func (p *Provisioner) destroyManaged(ctx context.Context, plan *Plan) (string, string, error) {
	c := plan.change(StepManaged)
	if c.Action != Delete {
		return "skipped", c.Detail, nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(plan.cluster.dbsFound))
	for i, d := range plan.cluster.dbsFound {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.deps.Databases.DeleteDatabase(ctx, d.Kind, d.ID); err != nil && !errors.Is(err, ErrNotFound) {
				errs[i] = fmt.Errorf("deleting %s %s: %w", d.Kind, d.ID, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", "", err
	}
	for _, g := range plan.cluster.dbGroups {
		if err := p.deps.Firewall.DeleteGroup(ctx, g.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return "", "", fmt.Errorf("deleting %s: %w", g.ID, err)
		}
	}
	if err := os.Remove(p.secretsFile().path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", "", err
	}
	return "deleted", c.Detail, nil
}

// censusManaged names the databases and their group a destroy should have removed.
func (p *Provisioner) censusManaged(ctx context.Context, plan *Plan) ([]string, error) {
	if p.deps.Databases == nil || plan.keepManaged {
		return nil, nil
	}
	var left []string
	for _, k := range []DBKind{KindMySQL, KindRedis, KindMongo} {
		d, err := p.findManaged(ctx, k, true)
		if err != nil {
			return nil, err
		}
		if d != nil {
			left = append(left, fmt.Sprintf("%s %s", k.Product(), d.ID))
		}
	}
	groups, err := p.deps.Firewall.FindGroups(ctx, p.DBGroupName(), TagKey, p.cfg.Deployment)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		left = append(left, "security group "+g.ID)
	}
	return left, nil
}
