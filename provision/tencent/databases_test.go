package tencent_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/provision"
)

// The managed databases through the client, for each engine: not ready at once (and not findable by
// tag while created), a weak password refused, a lost create answer that does not make a second
// instance, the security groups replaced, an adopted one found by address, and deletion in two steps
// with the subnet and group in use until it is gone.
func TestClusterManagedDatabases(t *testing.T) {
	tc, c := faultClient(t)
	ctx := context.Background()
	n := c.Network()
	vpc, err := n.CreateVPC(ctx, "applet-prod", "10.110.0.0/16", tags)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := n.CreateSubnet(ctx, vpc, "applet-prod", "10.110.1.0/24", "ap-guangzhou-3", tags)
	if err != nil {
		t.Fatal(err)
	}
	fw := c.Firewall()
	inst, err := fw.CreateGroup(ctx, "applet-prod", "instances", tags)
	if err != nil {
		t.Fatal(err)
	}
	dbg, err := fw.CreateGroup(ctx, "applet-prod-db", "databases", tags)
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.AddRules(ctx, dbg, []provision.Rule{{Protocol: "TCP", Port: "3306", Group: inst}}); err != nil {
		t.Fatal(err)
	}
	if g, err := fw.GroupByID(ctx, dbg); err != nil || len(g.Rules) != 1 || g.Rules[0].Group != inst || g.Rules[0].CIDR != "" {
		t.Fatalf("the databases' group reads %+v, %v", g, err)
	}
	if err := fw.DeleteGroup(ctx, inst); err == nil || !strings.Contains(err.Error(), "ResourceInUse") {
		t.Fatalf("deleting a group another group's rule admits: %v", err)
	}
	tc.SetDatabaseReady(3 * time.Second) // longer than the lost answer takes (the client gives up after 2s)
	dbs := c.Databases()
	for _, k := range []provision.DBKind{provision.KindMySQL, provision.KindRedis, provision.KindMongo} {
		t.Run(string(k), func(t *testing.T) {
			name := "applet-prod-" + string(k)
			spec := provision.ManagedDBSpec{Kind: k, Name: name, Zone: "ap-guangzhou-3", VpcID: vpc, SubnetID: sn, Password: "password",
				ClientToken: provision.NewToken("prod"), SecurityGroups: []string{dbg}, Tags: tags}
			if _, err := dbs.CreateDatabase(ctx, spec); err == nil || !strings.Contains(err.Error(), "Password") {
				t.Fatalf("a password of one kind of character: %v", err)
			}
			spec.Password = "Aabcdefghij_klmnop7"
			// The answer of the create is lost: the instance is made once all the same.
			tc.HangAfter("*", 1)
			id, err := dbs.CreateDatabase(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if n := countKind(tc.ManagedDatabases(), k); n != 1 {
				t.Fatalf("%d instances after a lost answer", n)
			}
			d, err := dbs.Database(ctx, k, id)
			if err != nil || d.Ready || d.Port != k.Port() || !strings.HasPrefix(d.Host, "10.110.1.") {
				t.Fatalf("a new instance reads %+v, %v", d, err)
			}
			if k == provision.KindMySQL {
				if err := dbs.SetupMySQL(ctx, id, "applet_prod", "applet_prod", "Bcdefghijk_lmnop8"); err == nil || !strings.Contains(err.Error(), "StatusConflict") {
					t.Fatalf("an account on an instance being created: %v", err)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for !d.Ready && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				d, _ = dbs.Database(ctx, k, id)
			}
			if !d.Ready || d.Tags[provision.TagKey] != "prod" {
				t.Fatalf("the instance does not run: %+v", d)
			}
			if found, err := dbs.FindDatabases(ctx, k, name); err != nil || len(found) != 1 || found[0].ID != id {
				t.Fatalf("found by name: %+v, %v", found, err)
			}
			if at, err := dbs.DatabaseAt(ctx, k, d.Host, d.Port); err != nil || at.ID != id {
				t.Fatalf("found by address: %+v, %v", at, err)
			}
			if _, err := dbs.DatabaseAt(ctx, k, "192.0.2.1", d.Port); !errors.Is(err, provision.ErrNotFound) {
				t.Fatalf("an address no instance has: %v", err)
			}
			if k == provision.KindMySQL {
				for range 2 { // again: what exists is kept
					if err := dbs.SetupMySQL(ctx, id, "applet_prod", "applet_prod", "Bcdefghijk_lmnop8"); err != nil {
						t.Fatal(err)
					}
				}
			}
			if gs, err := dbs.Groups(ctx, k, id); err != nil || !slices.Equal(gs, []string{dbg}) {
				t.Fatalf("groups %v, %v", gs, err)
			}
			if err := dbs.SetGroups(ctx, k, id, []string{dbg, inst}); err != nil {
				t.Fatal(err)
			}
			if gs, _ := dbs.Groups(ctx, k, id); !slices.Equal(gs, []string{dbg, inst}) {
				t.Fatalf("groups after replacing them: %v", gs)
			}
			if err := fw.DeleteGroup(ctx, dbg); err == nil || !strings.Contains(err.Error(), "ResourceInUse") {
				t.Fatalf("deleting the group of a running database: %v", err)
			}
			if err := dbs.DeleteDatabase(ctx, k, id); err != nil {
				t.Fatal(err)
			}
			if k == provision.KindRedis { // released from the recycle bin a while later
				time.Sleep(3100 * time.Millisecond)
			}
			if _, err := dbs.Database(ctx, k, id); !errors.Is(err, provision.ErrNotFound) {
				t.Fatalf("a deleted instance reads as %v", err)
			}
		})
	}
	if err := n.DeleteSubnet(ctx, sn); err != nil {
		t.Fatalf("the subnet once its databases are gone: %v", err)
	}
	for _, g := range []string{dbg, inst} {
		if err := fw.DeleteGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
}

func countKind(ids []string, k provision.DBKind) int {
	prefix := map[provision.DBKind]string{provision.KindMySQL: "cdb:", provision.KindRedis: "redis:", provision.KindMongo: "mongodb:"}[k]
	n := 0
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			n++
		}
	}
	return n
}
