package tencent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/qcloud-applet/applet/provision"
)

// TencentDB for MySQL (cdb 2017-03-20), for Redis (redis 2018-04-12) and for MongoDB (mongodb
// 2019-07-25) through the common client: their typed modules are not served here, so requests and
// answers are the types below, written from the API reference. The smallest pay-as-you-go sizes:
// a database that outgrows them is resized in the console, and provision leaves the size alone.

const (
	cdbVersion   = "2017-03-20"
	redisVersion = "2018-04-12"
	mongoVersion = "2019-07-25"
)

// Databases is provision.Databases.
type Databases struct{ c *Client }

var _ provision.Databases = (*Databases)(nil)

// Databases returns the managed databases' client.
func (c *Client) Databases() *Databases { return &Databases{c} }

func (d *Databases) call(ctx context.Context, k provision.DBKind, action string, write, idempotent bool, in, out any) error {
	cl, service, version := d.c.cdb, "cdb", cdbVersion
	switch k {
	case provision.KindRedis:
		cl, service, version = d.c.redis, "redis", redisVersion
	case provision.KindMongo:
		cl, service, version = d.c.mongodb, "mongodb", mongoVersion
	}
	return d.c.send(ctx, cl, op{service: service, action: action, write: write, idempotent: idempotent, where: d.c.cfg.Region}, version, in, out)
}

type dbTag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

type cdbItem struct {
	InstanceId, InstanceName, Vip, UniqVpcId, UniqSubnetId string
	Status                                                 int64
	Vport                                                  int
	TagList                                                []dbTag
}

type redisItem struct {
	InstanceId, InstanceName, WanIp, UniqVpcId, UniqSubnetId string
	Status                                                   int64
	Port                                                     int
	InstanceTags                                             []dbTag
}

type mongoItem struct {
	InstanceId, InstanceName, Vip, VpcId, SubnetId string
	Status                                         int64
	Vport                                          int
	Tags                                           []dbTag
}

func dbTags(ts []dbTag) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[t.TagKey] = t.TagValue
	}
	return m
}

// list reads the instances of kind that match the filter (a request body), every page.
func (d *Databases) list(ctx context.Context, k provision.DBKind, filter map[string]any) ([]provision.ManagedDB, error) {
	var out []provision.ManagedDB
	for offset := 0; ; {
		in := map[string]any{"Offset": offset, "Limit": 100}
		for key, v := range filter {
			in[key] = v
		}
		page, total, err := d.page(ctx, k, in)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		offset += len(page)
		if len(page) == 0 || offset >= total {
			return out, nil
		}
	}
}

// page reads one page of instances, and how many match in all.
func (d *Databases) page(ctx context.Context, k provision.DBKind, in map[string]any) ([]provision.ManagedDB, int, error) {
	var out []provision.ManagedDB
	switch k {
	case provision.KindMySQL:
		var resp struct {
			TotalCount int
			Items      []cdbItem
		}
		if err := d.call(ctx, k, "DescribeDBInstances", false, false, in, &resp); err != nil {
			return nil, 0, err
		}
		for _, i := range resp.Items { // 0 creating, 1 running, 4 isolating, 5 isolated
			out = append(out, provision.ManagedDB{Kind: k, ID: i.InstanceId, Name: i.InstanceName, Ready: i.Status == 1, Isolated: i.Status >= 4, Releasable: i.Status == 5,
				Host: i.Vip, Port: i.Vport, VpcID: i.UniqVpcId, SubnetID: i.UniqSubnetId, Tags: dbTags(i.TagList)})
		}
		return out, resp.TotalCount, nil
	case provision.KindRedis:
		var resp struct {
			TotalCount  int
			InstanceSet []redisItem
		}
		if err := d.call(ctx, k, "DescribeInstances", false, false, in, &resp); err != nil {
			return nil, 0, err
		}
		for _, i := range resp.InstanceSet { // 0 to initialise, 1 in process, 2 running, -2 isolated, -3 to delete
			out = append(out, provision.ManagedDB{Kind: k, ID: i.InstanceId, Name: i.InstanceName, Ready: i.Status == 2, Isolated: i.Status < 0, Releasable: i.Status < 0,
				Host: i.WanIp, Port: i.Port, VpcID: i.UniqVpcId, SubnetID: i.UniqSubnetId, Tags: dbTags(i.InstanceTags)})
		}
		return out, resp.TotalCount, nil
	}
	var resp struct {
		TotalCount      int
		InstanceDetails []mongoItem
	}
	if err := d.call(ctx, k, "DescribeDBInstances", false, false, in, &resp); err != nil {
		return nil, 0, err
	}
	for _, i := range resp.InstanceDetails { // as Redis's
		out = append(out, provision.ManagedDB{Kind: k, ID: i.InstanceId, Name: i.InstanceName, Ready: i.Status == 2, Isolated: i.Status < 0, Releasable: i.Status < 0,
			Host: i.Vip, Port: i.Vport, VpcID: i.VpcId, SubnetID: i.SubnetId, Tags: dbTags(i.Tags)})
	}
	return out, resp.TotalCount, nil
}

// FindDatabases returns the instances of kind with the name.
func (d *Databases) FindDatabases(ctx context.Context, k provision.DBKind, name string) ([]provision.ManagedDB, error) {
	var filter map[string]any
	switch k {
	case provision.KindMySQL:
		filter = map[string]any{"InstanceNames": []string{name}}
	case provision.KindRedis:
		filter = map[string]any{"InstanceName": name}
	default:
		filter = map[string]any{"SearchKey": name}
	}
	all, err := d.list(ctx, k, filter)
	if err != nil {
		return nil, err
	}
	var out []provision.ManagedDB
	for _, db := range all {
		if db.Name == name { // a search key matches parts of names
			out = append(out, db)
		}
	}
	return out, nil
}

// Database reads one instance by id.
func (d *Databases) Database(ctx context.Context, k provision.DBKind, id string) (provision.ManagedDB, error) {
	filter := map[string]any{"InstanceIds": []string{id}}
	if k == provision.KindRedis {
		filter = map[string]any{"InstanceId": id}
	}
	all, err := d.list(ctx, k, filter)
	if err != nil {
		return provision.ManagedDB{}, err
	}
	for _, db := range all {
		if db.ID == id {
			return db, nil
		}
	}
	return provision.ManagedDB{}, provision.ErrNotFound
}

// DatabaseAt finds the instance that answers at host:port.
func (d *Databases) DatabaseAt(ctx context.Context, k provision.DBKind, host string, port int) (provision.ManagedDB, error) {
	var filter map[string]any
	if k == provision.KindMySQL {
		filter = map[string]any{"Vips": []string{host}}
	}
	all, err := d.list(ctx, k, filter) // Redis and MongoDB cannot filter by address: every instance is read
	if err != nil {
		return provision.ManagedDB{}, err
	}
	for _, db := range all {
		if db.Host == host && db.Port == port && !db.Isolated {
			return db, nil
		}
	}
	return provision.ManagedDB{}, provision.ErrNotFound
}

// CreateDatabase creates a pay-as-you-go instance of the smallest size in the subnet.
func (d *Databases) CreateDatabase(ctx context.Context, s provision.ManagedDBSpec) (string, error) {
	var tags []dbTag
	for k, v := range s.Tags {
		tags = append(tags, dbTag{k, v})
	}
	var resp struct{ InstanceIds []string }
	var err error
	switch s.Kind {
	case provision.KindMySQL:
		type cdbTag struct {
			TagKey   string   `json:"TagKey"`
			TagValue []string `json:"TagValue"`
		}
		var ct []cdbTag
		for _, t := range tags {
			ct = append(ct, cdbTag{t.TagKey, []string{t.TagValue}})
		}
		in := map[string]any{"GoodsNum": 1, "Memory": 1000, "Volume": 25, "EngineVersion": "8.0", "UniqVpcId": s.VpcID, "UniqSubnetId": s.SubnetID,
			"Zone": s.Zone, "Password": s.Password, "InstanceName": s.Name, "SecurityGroup": s.SecurityGroups, "ResourceTags": ct, "ClientToken": s.ClientToken}
		// The ClientToken makes a replayed create return the first answer.
		err = d.call(ctx, s.Kind, "CreateDBInstanceHour", true, true, in, &resp)
	case provision.KindRedis:
		in := map[string]any{"TypeId": 6, "MemSize": 256, "GoodsNum": 1, "Period": 1, "BillingMode": 0, "ZoneName": s.Zone, "Password": s.Password,
			"VpcId": s.VpcID, "SubnetId": s.SubnetID, "SecurityGroupIdList": s.SecurityGroups, "InstanceName": s.Name, "ResourceTags": tags}
		err = d.call(ctx, s.Kind, "CreateInstances", true, false, in, &resp)
	default:
		in := map[string]any{"Memory": 2, "Volume": 25, "ReplicateSetNum": 1, "NodeNum": 3, "MongoVersion": "MONGO_44_WT", "MachineCode": "HIO10G",
			"GoodsNum": 1, "Zone": s.Zone, "ClusterType": "REPLSET", "VpcId": s.VpcID, "SubnetId": s.SubnetID, "Password": s.Password,
			"Tags": tags, "SecurityGroup": s.SecurityGroups, "InstanceName": s.Name}
		err = d.call(ctx, s.Kind, "CreateDBInstanceHour", true, false, in, &resp)
	}
	if err != nil && Ambiguous(err) && s.Kind != provision.KindMySQL {
		// No ClientToken here: the answer was lost, so look for the instance by name before any retry.
		if found, ferr := d.FindDatabases(ctx, s.Kind, s.Name); ferr == nil && len(found) > 0 {
			return found[0].ID, nil
		}
	}
	if err != nil {
		return "", err
	}
	if len(resp.InstanceIds) != 1 {
		return "", fmt.Errorf("%s create answered %d instances", s.Kind, len(resp.InstanceIds))
	}
	return resp.InstanceIds[0], nil
}

// SetupMySQL makes the backends' database and account.
func (d *Databases) SetupMySQL(ctx context.Context, id, database, user, password string) error {
	k := provision.KindMySQL
	err := d.call(ctx, k, "CreateDatabase", true, false, map[string]any{"InstanceId": id, "DBName": database, "CharacterSetName": "utf8mb4"}, nil)
	if err != nil && !isCode(err, "InvalidParameter.ResourceExists") {
		return err
	}
	acct := []map[string]string{{"User": user, "Host": "%"}}
	var async struct{ AsyncRequestId string }
	err = d.call(ctx, k, "CreateAccounts", true, false, map[string]any{"InstanceId": id, "Accounts": acct, "Password": password, "Description": "applet backends"}, &async)
	switch {
	case isCode(err, "InvalidParameter.ResourceExists"):
	case err != nil:
		return err
	default:
		if err := d.waitAsync(ctx, async.AsyncRequestId); err != nil {
			return err
		}
	}
	privs := []string{"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "INDEX", "ALTER", "CREATE TEMPORARY TABLES", "LOCK TABLES", "REFERENCES"}
	async.AsyncRequestId = ""
	if err := d.call(ctx, k, "ModifyAccountPrivileges", true, true, map[string]any{"InstanceId": id, "Accounts": acct,
		"DatabasePrivileges": []map[string]any{{"Database": database, "Privileges": privs}}}, &async); err != nil {
		return err
	}
	return d.waitAsync(ctx, async.AsyncRequestId)
}

// waitAsync waits for a MySQL asynchronous request to end.
func (d *Databases) waitAsync(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	deadline := time.Now().Add(TaskWait)
	for {
		var st struct{ Status, Info string }
		if err := d.call(ctx, provision.KindMySQL, "DescribeAsyncRequestInfo", false, false, map[string]any{"AsyncRequestId": id}, &st); err != nil {
			return err
		}
		switch st.Status {
		case "SUCCESS":
			return nil
		case "FAILED", "KILLED":
			return fmt.Errorf("request %s %s: %s", id, st.Status, st.Info)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("request %s still %s after %s", id, st.Status, TaskWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max(d.c.cfg.BaseDelay, 50*time.Millisecond)):
		}
	}
}

type dbGroup struct{ SecurityGroupId string }

// Groups lists an instance's security groups.
func (d *Databases) Groups(ctx context.Context, k provision.DBKind, id string) ([]string, error) {
	var ids []string
	switch k {
	case provision.KindRedis:
		var resp struct {
			InstanceSecurityGroupsDetail []struct {
				InstanceId           string
				SecurityGroupDetails []dbGroup
			}
		}
		if err := d.call(ctx, k, "DescribeInstanceSecurityGroup", false, false, map[string]any{"InstanceIds": []string{id}}, &resp); err != nil {
			return nil, err
		}
		for _, i := range resp.InstanceSecurityGroupsDetail {
			for _, g := range i.SecurityGroupDetails {
				ids = append(ids, g.SecurityGroupId)
			}
		}
	default:
		action := "DescribeDBSecurityGroups"
		if k == provision.KindMongo {
			action = "DescribeSecurityGroup"
		}
		var resp struct{ Groups []dbGroup }
		if err := d.call(ctx, k, action, false, false, map[string]any{"InstanceId": id}, &resp); err != nil {
			return nil, err
		}
		for _, g := range resp.Groups {
			ids = append(ids, g.SecurityGroupId)
		}
	}
	return ids, nil
}

// SetGroups replaces an instance's security groups.
func (d *Databases) SetGroups(ctx context.Context, k provision.DBKind, id string, groups []string) error {
	switch k {
	case provision.KindMySQL:
		return d.call(ctx, k, "ModifyDBInstanceSecurityGroups", true, true, map[string]any{"InstanceId": id, "SecurityGroupIds": groups}, nil)
	case provision.KindRedis:
		return d.call(ctx, k, "ModifyDBInstanceSecurityGroups", true, true, map[string]any{"Product": "redis", "InstanceId": id, "SecurityGroupIds": groups}, nil)
	}
	return d.call(ctx, k, "ModifyDBInstanceSecurityGroup", true, true, map[string]any{"InstanceId": id, "SecurityGroupIds": groups}, nil)
}

// DeleteDatabase isolates an instance, waits until it is, and takes it offline (Redis does both in one call).
func (d *Databases) DeleteDatabase(ctx context.Context, k provision.DBKind, id string) error {
	cur, err := d.Database(ctx, k, id)
	if err != nil {
		return err
	}
	if k == provision.KindRedis {
		if cur.Isolated {
			return nil
		}
		return d.call(ctx, k, "DestroyPostpaidInstance", true, true, map[string]any{"InstanceId": id}, nil)
	}
	if !cur.Isolated {
		if err := d.call(ctx, k, "IsolateDBInstance", true, true, map[string]any{"InstanceId": id}, nil); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(TaskWait)
	for {
		cur, err = d.Database(ctx, k, id)
		if errors.Is(err, provision.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur.Isolated && cur.Releasable {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s %s was not isolated after %s", k, id, TaskWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max(d.c.cfg.BaseDelay, 50*time.Millisecond)):
		}
	}
	if k == provision.KindMySQL {
		return d.call(ctx, k, "OfflineIsolatedInstances", true, true, map[string]any{"InstanceIds": []string{id}}, nil)
	}
	return d.call(ctx, k, "OfflineIsolatedDBInstance", true, true, map[string]any{"InstanceId": id}, nil)
}
