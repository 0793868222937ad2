package tcfake

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The managed databases: TencentDB for MySQL (cdb 2017-03-20), for Redis (redis 2018-04-12) and for
// MongoDB (mongodb 2019-07-25). A new instance is not ready at once (MySQL: Status 0 then 1; Redis: 0,
// 1, then 2; MongoDB: 0, 1, then 2), refuses account and database changes until it runs, cannot be
// found by its tags while it is created, and goes away in two steps (isolated, then offline).
// A test can register a real server as a product's instances (SetDatabaseBackend): new instances then
// answer at its address, and account, database and password changes are carried to it.

// DatabaseOp is a change the API makes to a database server, for a registered backend to carry out.
type DatabaseOp struct {
	Product    string // cdb, redis or mongodb
	Kind       string // "password" (the instance's own: root, the default user or mongouser), "database", "account", "grant", "drop"
	Name       string // the database (database, grant, drop)
	User, Host string // the account (account, grant)
	Password   string
	Privileges []string // grant
}

// DatabaseBackend is a real server the product's new instances are.
type DatabaseBackend struct {
	Addr  string // host:port: the instances' Vip and Vport
	Apply func(ctx context.Context, op DatabaseOp) error
}

type managedDB struct {
	product, id, name, zone, region, vpc, subnet, token string
	password                                            string
	vip                                                 string
	port                                                int
	groups                                              []string
	tags                                                []tag
	created, ready                                      time.Time
	isolated                                            time.Time // zero: not isolated
	databases                                           map[string]bool
	accounts                                            map[string]bool // "user@host"
	backend                                             *DatabaseBackend
}

type dbState struct {
	dbs      map[string]*managedDB
	order    []string
	tokens   map[string]string // cdb ClientToken → instance
	async    map[string]string // AsyncRequestId → status
	ready    time.Duration     // how long a new instance takes
	backends map[string]*DatabaseBackend
	n        int
}

func (d *dbState) init() {
	d.dbs, d.tokens, d.async, d.backends = map[string]*managedDB{}, map[string]string{}, map[string]string{}, map[string]*DatabaseBackend{}
	d.ready = 300 * time.Millisecond
}

// SetDatabaseReady sets how long a new managed database takes to be ready.
func (s *Server) SetDatabaseReady(d time.Duration) { s.mu.Lock(); s.db.ready = d; s.mu.Unlock() }

// SetDatabaseBackend makes the product's (cdb, redis or mongodb) new instances the server b.
func (s *Server) SetDatabaseBackend(product string, b DatabaseBackend) {
	s.mu.Lock()
	s.db.backends[product] = &b
	s.mu.Unlock()
}

// ManagedDatabases returns the ids of the managed databases that exist (isolated ones included), by product.
func (s *Server) ManagedDatabases() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, id := range s.db.order {
		if d := s.db.dbs[id]; d != nil {
			ids = append(ids, d.product+":"+id)
		}
	}
	return ids
}

// DatabaseGroups returns the security groups a managed database is in.
func (s *Server) DatabaseGroups(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.db.dbs[id]; d != nil {
		return slices.Clone(d.groups)
	}
	return nil
}

type dbTag struct{ TagKey, TagValue string }

// The cdb, redis and mongodb modules are not served here; these are written from the API reference.
type (
	cdbCreate struct {
		GoodsNum, Memory, Volume                  *int64
		EngineVersion, UniqVpcId, UniqSubnetId    *string
		Zone, Password, InstanceName, ClientToken *string
		ProjectId, Port, ProtectMode, DeployMode  *int64
		SecurityGroup                             []string
		ResourceTags                              []struct {
			TagKey   string
			TagValue []string
		}
		DryRun *bool
	}
	cdbDescribe struct {
		InstanceIds, Vips, InstanceNames, TagKeysForSearch, TagValues []string
		Status                                                        []int64
		Offset, Limit                                                 *uint64
		WithSecurityGroup                                             *int64
		Tags                                                          []dbTag
	}
	cdbAccount  struct{ User, Host string }
	cdbAccounts struct {
		InstanceId         *string
		Accounts           []cdbAccount
		Password           *string
		Description        *string
		GlobalPrivileges   []string
		DatabasePrivileges []struct {
			Privileges []string
			Database   string
		}
	}
	cdbDatabase struct{ InstanceId, DBName, CharacterSetName *string }
	cdbInstance struct {
		InstanceId       *string
		InstanceIds      []string
		SecurityGroupIds []string
		AsyncRequestId   *string
	}
	redisCreate struct {
		TypeId, MemSize, GoodsNum, Period, ZoneId, VPort                  *uint64
		BillingMode, ProjectId, RedisShardNum, RedisReplicasNum           *int64
		Password, VpcId, SubnetId, InstanceName, ZoneName, ProductVersion *string
		NoAuth, DryRun                                                    *bool
		SecurityGroupIdList                                               []string
		ResourceTags                                                      []dbTag
	}
	redisDescribe struct {
		Limit, Offset                       *uint64
		InstanceId, InstanceName, SearchKey *string
		InstanceIds, TagKeys, UniqVpcIds    []string
		InstanceTags                        []dbTag
	}
	dbSecurityGroups struct {
		Product, InstanceId *string
		SecurityGroupIds    []string
	}
	mongoCreate struct {
		Memory, Volume, ReplicateSetNum, NodeNum, GoodsNum                                    *uint64
		MongoVersion, MachineCode, Zone, ClusterType, VpcId, SubnetId, Password, InstanceName *string
		ProjectId                                                                             *int64
		Tags                                                                                  []dbTag
		SecurityGroup                                                                         []string
	}
	mongoDescribe struct {
		InstanceIds                []string
		VpcId, SubnetId, SearchKey *string
		Limit, Offset              *uint64
		Tags                       []dbTag
	}
)

func init() {
	for k, f := range map[string]func() any{
		"cdb.CreateDBInstanceHour":              func() any { return &cdbCreate{} },
		"cdb.DescribeDBInstances":               func() any { return &cdbDescribe{} },
		"cdb.CreateAccounts":                    func() any { return &cdbAccounts{} },
		"cdb.ModifyAccountPrivileges":           func() any { return &cdbAccounts{} },
		"cdb.CreateDatabase":                    func() any { return &cdbDatabase{} },
		"cdb.IsolateDBInstance":                 func() any { return &cdbInstance{} },
		"cdb.OfflineIsolatedInstances":          func() any { return &cdbInstance{} },
		"cdb.DescribeAsyncRequestInfo":          func() any { return &cdbInstance{} },
		"cdb.ModifyDBInstanceSecurityGroups":    func() any { return &cdbInstance{} },
		"redis.CreateInstances":                 func() any { return &redisCreate{} },
		"redis.DescribeInstances":               func() any { return &redisDescribe{} },
		"redis.DestroyPostpaidInstance":         func() any { return &cdbInstance{} },
		"redis.ModifyDBInstanceSecurityGroups":  func() any { return &dbSecurityGroups{} },
		"mongodb.CreateDBInstanceHour":          func() any { return &mongoCreate{} },
		"mongodb.DescribeDBInstances":           func() any { return &mongoDescribe{} },
		"mongodb.IsolateDBInstance":             func() any { return &cdbInstance{} },
		"mongodb.OfflineIsolatedDBInstance":     func() any { return &cdbInstance{} },
		"mongodb.ModifyDBInstanceSecurityGroup": func() any { return &dbSecurityGroups{} },
	} {
		sdkRequests[k] = f
	}
	for k, v := range map[string][]string{
		"cdb.CreateDBInstanceHour":              {"GoodsNum", "Memory", "Volume"},
		"cdb.CreateAccounts":                    {"InstanceId", "Accounts", "Password"},
		"cdb.ModifyAccountPrivileges":           {"InstanceId", "Accounts"},
		"cdb.CreateDatabase":                    {"InstanceId", "DBName", "CharacterSetName"},
		"cdb.IsolateDBInstance":                 {"InstanceId"},
		"cdb.OfflineIsolatedInstances":          {"InstanceIds"},
		"cdb.DescribeAsyncRequestInfo":          {"AsyncRequestId"},
		"cdb.ModifyDBInstanceSecurityGroups":    {"InstanceId", "SecurityGroupIds"},
		"redis.CreateInstances":                 {"TypeId", "MemSize", "GoodsNum", "Period", "BillingMode"},
		"redis.DestroyPostpaidInstance":         {"InstanceId"},
		"redis.ModifyDBInstanceSecurityGroups":  {"Product", "SecurityGroupIds", "InstanceId"},
		"mongodb.CreateDBInstanceHour":          {"Memory", "Volume", "ReplicateSetNum", "NodeNum", "MongoVersion", "MachineCode", "GoodsNum", "Zone", "ClusterType"},
		"mongodb.IsolateDBInstance":             {"InstanceId"},
		"mongodb.OfflineIsolatedDBInstance":     {"InstanceId"},
		"mongodb.ModifyDBInstanceSecurityGroup": {"InstanceId", "SecurityGroupIds"},
	} {
		required[k] = v
	}
}

// passwordOK checks a password as the products do: a length range and at least two kinds of
// character among letters, digits and the product's special characters.
func passwordOK(pw string, min, max int, specials string) bool {
	if len(pw) < min || len(pw) > max {
		return false
	}
	var letter, digit, special bool
	for _, r := range pw {
		switch {
		case unicode.IsLetter(r) && r < 128:
			letter = true
		case unicode.IsDigit(r):
			digit = true
		case strings.ContainsRune(specials, r):
			special = true
		default:
			return false
		}
	}
	n := 0
	for _, b := range []bool{letter, digit, special} {
		if b {
			n++
		}
	}
	return n >= 2
}

// newDB makes an instance of product in the subnet, at its backend's address when one is registered.
// Called with s.mu held.
func (s *Server) newDB(product, region, zone, vpcID, subnetID, name, password string, groups []string, tags []tag, defaultPort int) (*managedDB, *apiError) {
	now := s.now()
	sn := s.vpc.subnets[subnetID]
	if v := s.vpc.vpcs[vpcID]; v == nil || sn == nil || sn.vpc != vpcID {
		return nil, &apiError{Code: "vpc"} // the caller names its product's code
	}
	if zone != "" && sn.zone != zone {
		return nil, &apiError{Code: "zone"}
	}
	for _, g := range groups {
		if s.vpc.groups[g] == nil {
			return nil, errorf(dbBadGroup[product], "The security group %s does not exist.", g)
		}
	}
	s.db.n++
	prefix := map[string]string{"cdb": "cdb-", "redis": "crs-", "mongodb": "cmgo-"}[product]
	d := &managedDB{product: product, id: fmt.Sprintf("%s%08x", prefix, 0x5e000000+s.db.n), name: name, zone: sn.zone, region: region,
		vpc: vpcID, subnet: subnetID, password: password, groups: groups, tags: tags, created: now, ready: now.Add(s.db.ready),
		databases: map[string]bool{}, accounts: map[string]bool{}, port: defaultPort}
	if b := s.db.backends[product]; b != nil {
		h, p, _ := net.SplitHostPort(b.Addr)
		d.vip, d.backend = h, b
		d.port, _ = strconv.Atoi(p)
	} else {
		ip := sn.cidr.IP.To4()
		d.vip = fmt.Sprintf("%d.%d.%d.%d", ip[0], ip[1], ip[2], 100+s.db.n%150)
	}
	s.db.dbs[d.id] = d
	s.db.order = append(s.db.order, d.id)
	return d, nil
}

// carry applies an account change to the backend, outside the lock.
func (s *Server) carry(ctx context.Context, d *managedDB, op DatabaseOp) *apiError {
	if d.backend == nil || d.backend.Apply == nil {
		return nil
	}
	op.Product = d.product
	if err := d.backend.Apply(ctx, op); err != nil {
		return errorf("InternalError", "The instance %s could not apply the change: %v", d.id, err)
	}
	return nil
}

// Each product's codes for an instance that does not exist and for a security group that does not.
var (
	dbNotFound = map[string]string{"cdb": "InvalidParameter.InstanceNotFound", "redis": "ResourceNotFound.InstanceNotExists", "mongodb": "InvalidParameterValue.NotFoundInstance"}
	dbBadGroup = map[string]string{"cdb": "InternalError.SecurityGroupError", "redis": "InvalidParameterValue.SecurityGroupIdsNotExists", "mongodb": "InvalidParameterValue.SecurityGroupId"}
)

func (s *Server) lookupDB(product, id string) *managedDB {
	if d := s.db.dbs[id]; d != nil && d.product == product {
		return d
	}
	return nil
}

// findDB returns the product's instance, or the product's error for one that does not exist. Called
// with s.mu held.
func (s *Server) findDB(product, id string) (*managedDB, *apiError) {
	if d := s.lookupDB(product, id); d != nil {
		return d, nil
	}
	return nil, errorf(dbNotFound[product], "The instance %s does not exist.", id)
}

// tagged says whether the instance has every tag (key and value) and every key.
func (d *managedDB) tagged(tags []dbTag, keys []string) bool {
	for _, t := range tags {
		if !d.hasTag(t.TagKey, t.TagValue) {
			return false
		}
	}
	for _, k := range keys {
		if !d.hasTag(k, "") {
			return false
		}
	}
	return true
}

// tagList is the instance's tags as the products list them.
func (d *managedDB) tagList() []map[string]string {
	tl := []map[string]string{}
	for _, t := range d.tags {
		tl = append(tl, map[string]string{"TagKey": t.Key, "TagValue": t.Value})
	}
	return tl
}

func (d *managedDB) hasTag(key, value string) bool {
	for _, t := range d.tags {
		if t.Key == key && (value == "" || t.Value == value) {
			return true
		}
	}
	return false
}

func (s *Server) dbAction(req *request) (any, *apiError) {
	if err := s.checkRegion(req.region); err != nil {
		return nil, err
	}
	switch req.action {
	case "DescribeDBSecurityGroups", "DescribeSecurityGroup", "DescribeInstanceSecurityGroup":
		var in struct {
			InstanceId  *string
			InstanceIds []string
		}
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		ids := in.InstanceIds
		if in.InstanceId != nil {
			ids = append(ids, *in.InstanceId)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var groups []map[string]string
		var detail []map[string]any
		for _, id := range ids {
			d, aerr := s.findDB(req.service, id)
			if aerr != nil {
				return nil, aerr
			}
			var gs []map[string]string
			for _, g := range d.groups {
				gs = append(gs, map[string]string{"SecurityGroupId": g, "SecurityGroupName": s.vpc.groups[g].name})
			}
			groups = append(groups, gs...)
			detail = append(detail, map[string]any{"InstanceId": id, "SecurityGroupDetails": gs})
		}
		if req.service == "redis" {
			return map[string]any{"InstanceSecurityGroupsDetail": detail}, nil
		}
		return map[string]any{"Groups": groups}, nil
	}
	switch req.service {
	case "cdb":
		return s.cdbAction(req)
	case "redis":
		return s.redisAction(req)
	}
	return s.mongoAction(req)
}

func (s *Server) cdbAction(req *request) (any, *apiError) {
	now := s.now()
	switch req.action {
	case "CreateDBInstanceHour":
		var in cdbCreate
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		if in.UniqVpcId == nil || in.UniqSubnetId == nil {
			return nil, errorf("InvalidParameter", "A pay-as-you-go instance needs UniqVpcId and UniqSubnetId (the classic network is retired).")
		}
		if in.Password != nil && !passwordOK(*in.Password, 8, 64, "_+-,&=!@#$%^*().|") {
			return nil, errorf("InvalidParameterValue.AccountPasswordRuleError", "The password must be 8 to 64 characters with at least two of letters, digits and _+-,&=!@#$%%^*().|.")
		}
		if in.GoodsNum != nil && *in.GoodsNum != 1 {
			return nil, errorf("InvalidParameter", "This stand-in creates one instance at a time.")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if in.ClientToken != nil {
			if id, ok := s.db.tokens[*in.ClientToken]; ok {
				return map[string]any{"InstanceIds": []string{id}, "DealIds": []string{"deal-" + id}}, nil
			}
		}
		var tags []tag
		for _, t := range in.ResourceTags {
			for _, v := range t.TagValue {
				tags = append(tags, tag{t.TagKey, v})
			}
		}
		d, aerr := s.newDB("cdb", req.region, str(in.Zone), *in.UniqVpcId, *in.UniqSubnetId, str(in.InstanceName), str(in.Password), in.SecurityGroup, tags, 3306)
		if aerr != nil {
			switch aerr.Code {
			case "vpc":
				return nil, errorf("InternalError.VpcError", "The VPC %s or subnet %s does not exist.", *in.UniqVpcId, *in.UniqSubnetId)
			case "zone":
				return nil, errorf("InvalidParameter", "The subnet %s is not in zone %s.", *in.UniqSubnetId, str(in.Zone))
			}
			return nil, aerr
		}
		if in.ClientToken != nil {
			d.token = *in.ClientToken
			s.db.tokens[d.token] = d.id
		}
		if d.password != "" {
			defer s.unlocked(func() {
				s.carry(req.ctx, d, DatabaseOp{Kind: "password", User: "root", Host: "%", Password: d.password})
			})
		}
		return map[string]any{"InstanceIds": []string{d.id}, "DealIds": []string{"deal-" + d.id}}, nil
	case "DescribeDBInstances":
		var in cdbDescribe
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var set []map[string]any
		for _, id := range s.db.order {
			d := s.db.dbs[id]
			if d == nil || d.product != "cdb" || d.region != req.region {
				continue
			}
			status := s.cdbStatus(d, now)
			if len(in.InstanceIds) > 0 && !slices.Contains(in.InstanceIds, d.id) ||
				len(in.Vips) > 0 && !slices.Contains(in.Vips, d.vip) ||
				len(in.InstanceNames) > 0 && !slices.Contains(in.InstanceNames, d.name) ||
				len(in.Status) > 0 && !slices.Contains(in.Status, status) {
				continue
			}
			// Tags of an instance being created cannot be queried.
			if len(in.Tags) > 0 || len(in.TagKeysForSearch) > 0 {
				if status == 0 {
					continue
				}
				if !d.tagged(in.Tags, in.TagKeysForSearch) {
					continue
				}
			}
			tl := d.tagList()
			set = append(set, map[string]any{"InstanceId": d.id, "InstanceName": d.name, "Status": status, "TaskStatus": 0,
				"Zone": d.zone, "Region": d.region, "Vip": d.vip, "Vport": d.port, "UniqVpcId": d.vpc, "UniqSubnetId": d.subnet,
				"PayType": 1, "EngineVersion": "8.0", "TagList": tl, "CreateTime": d.created.Format(time.DateTime)})
		}
		return pageOf(set, fmt.Sprint(uint64OrZero(in.Offset)), fmt.Sprint(uint64Or(in.Limit, 20)), "Items")
	case "CreateDatabase":
		var in cdbDatabase
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		d, aerr := s.runningCDB(*in.InstanceId, now)
		if aerr != nil {
			return nil, aerr
		}
		s.mu.Lock()
		exists := d.databases[*in.DBName]
		s.mu.Unlock()
		if exists {
			return nil, errorf("InvalidParameter.ResourceExists", "The database %s exists.", *in.DBName)
		}
		if aerr := s.carry(req.ctx, d, DatabaseOp{Kind: "database", Name: *in.DBName}); aerr != nil {
			return nil, aerr
		}
		s.mu.Lock()
		d.databases[*in.DBName] = true
		s.mu.Unlock()
		return map[string]any{}, nil
	case "CreateAccounts", "ModifyAccountPrivileges":
		var in cdbAccounts
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		d, aerr := s.runningCDB(*in.InstanceId, now)
		if aerr != nil {
			return nil, aerr
		}
		for _, a := range in.Accounts {
			s.mu.Lock()
			exists := d.accounts[a.User+"@"+a.Host]
			s.mu.Unlock()
			if req.action == "CreateAccounts" {
				if exists {
					return nil, errorf("InvalidParameter.ResourceExists", "The account %s@%s exists.", a.User, a.Host)
				}
				if !passwordOK(*in.Password, 8, 64, "_+-,&=!@#$%^*().|") {
					return nil, errorf("InvalidParameterValue.AccountPasswordRuleError", "The password must be 8 to 64 characters with at least two of letters, digits and _+-,&=!@#$%%^*().|.")
				}
				if aerr := s.carry(req.ctx, d, DatabaseOp{Kind: "account", User: a.User, Host: a.Host, Password: *in.Password}); aerr != nil {
					return nil, aerr
				}
				s.mu.Lock()
				d.accounts[a.User+"@"+a.Host] = true
				s.mu.Unlock()
				continue
			}
			if !exists {
				return nil, errorf("InvalidParameterValue.UserNotExistError", "The account %s@%s does not exist.", a.User, a.Host)
			}
			for _, p := range in.DatabasePrivileges {
				if aerr := s.carry(req.ctx, d, DatabaseOp{Kind: "grant", User: a.User, Host: a.Host, Name: p.Database, Privileges: p.Privileges}); aerr != nil {
					return nil, aerr
				}
			}
		}
		return s.asyncDone(), nil
	case "DescribeAsyncRequestInfo":
		var in cdbInstance
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		st, ok := s.db.async[*in.AsyncRequestId]
		s.mu.Unlock()
		if !ok {
			return nil, errorf("InvalidParameter", "No async request %s.", *in.AsyncRequestId)
		}
		return map[string]any{"Status": st, "Info": ""}, nil
	case "ModifyDBInstanceSecurityGroups":
		var in cdbInstance
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		return s.setDBGroups("cdb", *in.InstanceId, in.SecurityGroupIds)
	case "IsolateDBInstance":
		var in cdbInstance
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		d, aerr := s.findDB("cdb", *in.InstanceId)
		if aerr != nil {
			return nil, aerr
		}
		if st := s.cdbStatus(d, now); st != 1 {
			return nil, errorf("FailedOperation.StatusConflict", "The instance %s is in status %d, not running.", d.id, st)
		}
		d.isolated = now
		return s.asyncDoneLocked(), nil
	case "OfflineIsolatedInstances":
		var in cdbInstance
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		for _, id := range in.InstanceIds {
			d := s.lookupDB("cdb", id)
			if d == nil || s.cdbStatus(d, now) != 5 {
				s.mu.Unlock()
				return nil, errorf("FailedOperation.StatusConflict", "The instance %s is not isolated.", id)
			}
			delete(s.db.dbs, id)
		}
		s.mu.Unlock()
		return map[string]any{}, nil
	}
	return nil, unknownAction(req)
}

// cdbStatus: 0 creating, 1 running, 4 isolating, 5 isolated.
func (s *Server) cdbStatus(d *managedDB, now time.Time) int64 {
	switch {
	case !d.isolated.IsZero() && now.Sub(d.isolated) < s.db.ready/3:
		return 4
	case !d.isolated.IsZero():
		return 5
	case now.Before(d.ready):
		return 0
	}
	return 1
}

func (s *Server) runningCDB(id string, now time.Time) (*managedDB, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, aerr := s.findDB("cdb", id)
	if aerr != nil {
		return nil, aerr
	}
	if st := s.cdbStatus(d, now); st != 1 {
		return nil, errorf("FailedOperation.StatusConflict", "The instance %s is in status %d: wait until it runs (1).", id, st)
	}
	return d, nil
}

// asyncDone records an asynchronous request that has succeeded by the time it is asked about.
func (s *Server) asyncDone() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asyncDoneLocked()
}

func (s *Server) asyncDoneLocked() map[string]any {
	s.db.n++
	id := fmt.Sprintf("async-%d", s.db.n)
	s.db.async[id] = "SUCCESS"
	return map[string]any{"AsyncRequestId": id}
}

func (s *Server) unlocked(f func()) {
	s.mu.Unlock()
	f()
	s.mu.Lock()
}

func (s *Server) setDBGroups(product, id string, groups []string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, aerr := s.findDB(product, id)
	if aerr != nil {
		return nil, aerr
	}
	for _, g := range groups {
		if s.vpc.groups[g] == nil {
			return nil, errorf(dbBadGroup[product], "The security group %s does not exist.", g)
		}
	}
	d.groups = slices.Clone(groups)
	return map[string]any{}, nil
}

// dbStatus is Redis's and MongoDB's: 0 to be initialised, 1 in process, 2 running, -2 isolated.
func (s *Server) dbStatus(d *managedDB, now time.Time) int64 {
	switch {
	case !d.isolated.IsZero():
		return -2
	case now.Before(d.created.Add(s.db.ready / 2)):
		return 0
	case now.Before(d.ready):
		return 1
	}
	return 2
}

func (s *Server) redisAction(req *request) (any, *apiError) {
	now := s.now()
	switch req.action {
	case "CreateInstances":
		var in redisCreate
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		switch {
		case *in.BillingMode != 0:
			return nil, errorf("InvalidParameter", "This stand-in serves pay-as-you-go (BillingMode 0) only.")
		case *in.GoodsNum != 1:
			return nil, errorf("LimitExceeded.InvalidParameterGoodsNumNotInRange", "This stand-in creates one instance at a time.")
		case in.VpcId == nil || in.SubnetId == nil:
			return nil, errorf("InvalidParameter.IsNotVpcInstance", "VpcId and SubnetId are needed.")
		case in.Password == nil && (in.NoAuth == nil || !*in.NoAuth):
			return nil, errorf("InvalidParameterValue.PasswordEmpty", "The password is empty.")
		case in.Password != nil && !passwordOK(*in.Password, 8, 30, "()`~!@#$%^&*-+=_|{}[]:;<>,.?/") || strings.HasPrefix(str(in.Password), "/"):
			return nil, errorf("InvalidParameterValue.PasswordRuleError", "The password must be 8 to 30 characters with at least two kinds of character, not starting with /.")
		case *in.MemSize < 256 || *in.MemSize%256 != 0:
			return nil, errorf("LimitExceeded.MemSizeNotInRange", "MemSize %d MB is not a valid size.", *in.MemSize)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var tags []tag
		for _, t := range in.ResourceTags {
			tags = append(tags, tag{t.TagKey, t.TagValue})
		}
		d, aerr := s.newDB("redis", req.region, str(in.ZoneName), *in.VpcId, *in.SubnetId, str(in.InstanceName), str(in.Password), in.SecurityGroupIdList, tags, 6379)
		if aerr != nil {
			switch aerr.Code {
			case "vpc":
				return nil, errorf("InvalidParameterValue.UnVpcIdNotExists", "The VPC %s or subnet %s does not exist.", *in.VpcId, *in.SubnetId)
			case "zone":
				return nil, errorf("InvalidParameterValue.InvalidSubnetId", "The subnet %s is not in zone %s.", *in.SubnetId, str(in.ZoneName))
			}
			return nil, aerr
		}
		if in.VPort != nil {
			d.port = int(*in.VPort)
		}
		defer s.unlocked(func() { s.carry(req.ctx, d, DatabaseOp{Kind: "password", Password: d.password}) })
		return map[string]any{"DealId": "deal-" + d.id, "InstanceIds": []string{d.id}}, nil
	case "DescribeInstances":
		var in redisDescribe
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var set []map[string]any
		for _, id := range s.db.order {
			d := s.db.dbs[id]
			if d == nil || d.product != "redis" || d.region != req.region {
				continue
			}
			if in.InstanceId != nil && *in.InstanceId != d.id || len(in.InstanceIds) > 0 && !slices.Contains(in.InstanceIds, d.id) ||
				in.InstanceName != nil && *in.InstanceName != d.name || in.SearchKey != nil && !strings.Contains(d.id+d.name, *in.SearchKey) ||
				len(in.UniqVpcIds) > 0 && !slices.Contains(in.UniqVpcIds, d.vpc) {
				continue
			}
			if !d.tagged(in.InstanceTags, in.TagKeys) {
				continue
			}
			tl := d.tagList()
			set = append(set, map[string]any{"InstanceId": d.id, "InstanceName": d.name, "Status": s.dbStatus(d, now), "WanIp": d.vip, "Port": d.port,
				"UniqVpcId": d.vpc, "UniqSubnetId": d.subnet, "BillingMode": 0, "InstanceTags": tl, "Createtime": d.created.Format(time.DateTime), "Region": d.region})
		}
		out, aerr := pageOf(set, fmt.Sprint(uint64OrZero(in.Offset)), fmt.Sprint(uint64Or(in.Limit, 20)), "InstanceSet")
		return out, aerr
	case "ModifyDBInstanceSecurityGroups":
		var in dbSecurityGroups
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		if str(in.Product) != "redis" {
			return nil, errorf("InvalidParameter", "Product must be redis.")
		}
		return s.setDBGroups("redis", *in.InstanceId, in.SecurityGroupIds)
	case "DestroyPostpaidInstance":
		var in cdbInstance
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		d, aerr := s.findDB("redis", *in.InstanceId)
		if aerr != nil {
			return nil, aerr
		}
		if st := s.dbStatus(d, now); st != 2 {
			return nil, errorf("ResourceUnavailable.InstanceStatusError", "The instance %s is in status %d.", d.id, st)
		}
		// Isolated now, released a while later (the recycle bin): it no longer answers.
		d.isolated = now
		release := s.db.ready
		go func() {
			time.Sleep(release)
			s.mu.Lock()
			delete(s.db.dbs, d.id)
			s.mu.Unlock()
		}()
		return map[string]any{"TaskId": s.db.n}, nil
	}
	return nil, unknownAction(req)
}

func (s *Server) mongoAction(req *request) (any, *apiError) {
	now := s.now()
	switch req.action {
	case "CreateDBInstanceHour":
		var in mongoCreate
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		switch {
		case *in.GoodsNum != 1:
			return nil, errorf("InvalidParameterValue.LimitParaOutOfRange", "This stand-in creates one instance at a time.")
		case in.VpcId == nil || in.SubnetId == nil:
			return nil, errorf("InvalidParameterValue.VpcIdOrSubnetIdNotFound", "VpcId and SubnetId are needed.")
		case in.Password != nil && !passwordOK(*in.Password, 8, 32, "!@#%^*()_"):
			return nil, errorf("InvalidParameterValue.PasswordRuleFailed", "The password must be 8 to 32 characters with at least two of letters, digits and !@#%%^*()_.")
		case *in.ClusterType != "REPLSET":
			return nil, errorf("InvalidParameter", "This stand-in creates replica sets (REPLSET) only.")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var tags []tag
		for _, t := range in.Tags {
			tags = append(tags, tag{t.TagKey, t.TagValue})
		}
		d, aerr := s.newDB("mongodb", req.region, *in.Zone, *in.VpcId, *in.SubnetId, str(in.InstanceName), str(in.Password), in.SecurityGroup, tags, 27017)
		if aerr != nil {
			if aerr.Code != "vpc" && aerr.Code != "zone" {
				return nil, aerr
			}
			return nil, errorf("InvalidParameterValue.VpcIdOrSubnetIdNotFound", "The VPC %s or subnet %s does not exist in %s.", *in.VpcId, *in.SubnetId, *in.Zone)
		}
		if d.password != "" {
			defer s.unlocked(func() { s.carry(req.ctx, d, DatabaseOp{Kind: "password", User: "mongouser", Password: d.password}) })
		}
		return map[string]any{"DealId": "deal-" + d.id, "InstanceIds": []string{d.id}}, nil
	case "DescribeDBInstances":
		var in mongoDescribe
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var set []map[string]any
		for _, id := range s.db.order {
			d := s.db.dbs[id]
			if d == nil || d.product != "mongodb" || d.region != req.region {
				continue
			}
			if len(in.InstanceIds) > 0 && !slices.Contains(in.InstanceIds, d.id) || in.VpcId != nil && *in.VpcId != d.vpc ||
				in.SearchKey != nil && !strings.Contains(d.id+d.name+d.vip, *in.SearchKey) {
				continue
			}
			if !d.tagged(in.Tags, nil) {
				continue
			}
			tl := d.tagList()
			set = append(set, map[string]any{"InstanceId": d.id, "InstanceName": d.name, "Status": s.dbStatus(d, now), "Vip": d.vip, "Vport": d.port,
				"VpcId": d.vpc, "SubnetId": d.subnet, "Zone": d.zone, "Region": d.region, "PayMode": 0, "ClusterType": 0, "Tags": tl, "CreateTime": d.created.Format(time.DateTime)})
		}
		return pageOf(set, fmt.Sprint(uint64OrZero(in.Offset)), fmt.Sprint(uint64Or(in.Limit, 20)), "InstanceDetails")
	case "ModifyDBInstanceSecurityGroup":
		var in dbSecurityGroups
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		return s.setDBGroups("mongodb", *in.InstanceId, in.SecurityGroupIds)
	case "IsolateDBInstance", "OfflineIsolatedDBInstance":
		var in cdbInstance
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		d, aerr := s.findDB("mongodb", *in.InstanceId)
		if aerr != nil {
			return nil, aerr
		}
		st := s.dbStatus(d, now)
		if req.action == "IsolateDBInstance" {
			if st != 2 {
				return nil, errorf("InvalidParameterValue.StatusAbnormal", "The instance %s is in status %d.", d.id, st)
			}
			d.isolated = now
			return s.asyncDoneLocked(), nil
		}
		if st != -2 {
			return nil, errorf("InvalidParameterValue.IllegalStatusToOffline", "The instance %s is not isolated.", d.id)
		}
		delete(s.db.dbs, d.id)
		return map[string]any{"AsyncRequestId": ""}, nil
	}
	return nil, unknownAction(req)
}

func uint64OrZero(p *uint64) uint64 { return uint64Or(p, 0) }

func uint64Or(p *uint64, d uint64) uint64 {
	if p == nil {
		return d
	}
	return *p
}
