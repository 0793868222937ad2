package tencent_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/qcloud-applet/applet/provision"
)

// The deployment's network through the client: a VPC with a subnet in one zone, overlaps and sizes
// refused as VPC refuses them, instances launched into the subnet of their zone only, and nothing
// deleted while in use.
func TestClusterNetwork(t *testing.T) {
	tc, c := faultClient(t)
	ctx := context.Background()
	n := c.Network()
	if _, err := n.CreateVPC(ctx, "applet-prod", "8.8.0.0/16", tags); err == nil {
		t.Fatal("a public CIDR block was accepted for a VPC")
	}
	vpc, err := n.CreateVPC(ctx, "applet-prod", "10.110.0.0/16", tags)
	if err != nil {
		t.Fatal(err)
	}
	if found, err := n.FindVPCs(ctx, "applet-prod", provision.TagKey, "prod"); err != nil || len(found) != 1 || found[0].ID != vpc || found[0].CIDR != "10.110.0.0/16" {
		t.Fatalf("found %+v, %v", found, err)
	}
	if found, _ := n.FindVPCs(ctx, "applet-prod", provision.TagKey, "staging"); len(found) != 0 {
		t.Fatalf("another deployment's VPC was found: %+v", found)
	}
	if _, err := n.CreateSubnet(ctx, vpc, "applet-prod", "10.111.1.0/24", "ap-guangzhou-3", tags); err == nil || !strings.Contains(err.Error(), "SubnetRange") {
		t.Fatalf("a subnet outside its VPC: %v", err)
	}
	sn, err := n.CreateSubnet(ctx, vpc, "applet-prod", "10.110.1.0/24", "ap-guangzhou-3", tags)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.CreateSubnet(ctx, vpc, "other", "10.110.1.128/25", "ap-guangzhou-4", tags); err == nil || !strings.Contains(err.Error(), "SubnetConflict") {
		t.Fatalf("an overlapping subnet: %v", err)
	}
	if got, err := n.Subnet(ctx, sn); err != nil || got.VpcID != vpc || got.Zone != "ap-guangzhou-3" {
		t.Fatalf("subnet %+v, %v", got, err)
	}
	spec := provision.InstanceSpec{Zone: "ap-guangzhou-4", ImageID: "img-487zeit5", Type: "S5.MEDIUM2", DiskGB: 20, BandwidthMbps: 1, Tags: tags, VpcID: vpc, SubnetID: sn}
	if _, err := c.Compute().RunInstance(ctx, spec); err == nil || !strings.Contains(err.Error(), "SubnetIdZoneIdNotMatch") {
		t.Fatalf("an instance in another zone than its subnet: %v", err)
	}
	spec.Zone = "ap-guangzhou-3"
	id, err := c.Compute().RunInstance(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if v, s := tc.InstanceSubnet(id); v != vpc || s != sn {
		t.Fatalf("the instance runs in %s %s", v, s)
	}
	if err := n.DeleteSubnet(ctx, sn); err == nil || !strings.Contains(err.Error(), "ResourceInUse") {
		t.Fatalf("deleting a subnet with an instance: %v", err)
	}
	if err := n.DeleteVPC(ctx, vpc); err == nil || !strings.Contains(err.Error(), "ResourceInUse") {
		t.Fatalf("deleting a VPC with a subnet: %v", err)
	}
	if err := c.Compute().TerminateInstance(ctx, id); err != nil {
		t.Fatal(err)
	}
	tc.SetTerminateDelay(0)
	for _, del := range []func() error{func() error { return n.DeleteSubnet(ctx, sn) }, func() error { return n.DeleteVPC(ctx, vpc) }, func() error { return n.DeleteVPC(ctx, vpc) }} {
		if err := del(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.VPC(ctx, vpc); !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("a deleted VPC reads as %v", err)
	}
}
