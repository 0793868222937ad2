package doctor

import (
	"context"
	"errors"
	"strings"

	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/tencent"
)

func apiFail(err error) Result {
	var ae *tencent.APIError
	if errors.As(err, &ae) && ae.Fix != "" {
		return Failed(err.Error(), ae.Fix)
	}
	return Failed(err.Error(), "check the network path to the Tencent Cloud API and the key")
}

func (d *env) skipCloud() (Result, bool) {
	if !d.deployed() {
		return Skip(localSkip), true
	}
	if _, err := d.cloud(); err != nil {
		return Skip("no Tencent Cloud key to check with: " + err.Error()), true
	}
	return Result{}, false
}

// regionZones lists the region's zones once for the checks that need them.
func (d *env) checkCredsRead(ctx context.Context) Result {
	if r, skip := d.skipCloud(); skip {
		return r
	}
	cl, _ := d.cloud()
	if _, err := d.regionZones(ctx, cl); err != nil {
		return apiFail(err)
	}
	if _, err := cl.Firewall().FindGroups(ctx, "applet-"+d.c.Deployment, provision.TagKey, d.c.Deployment); err != nil {
		return apiFail(err)
	}
	if _, err := cl.DNS().Records(ctx, provision.Zone(d.c.Domain, d.c.Provision.DNSZone), "@", "A"); err != nil {
		return apiFail(err)
	}
	return Ok("the key reads CVM, VPC and DNSPod")
}

func (d *env) checkCredsWrite(ctx context.Context) Result {
	if r, skip := d.skipCloud(); skip {
		return r
	}
	cl, _ := d.cloud()
	p := d.c.Provision
	err := cl.Compute().DryRunInstance(ctx, provision.InstanceSpec{Zone: d.c.TencentCloud.Zone, ImageID: p.ImageID, Type: p.InstanceType, DiskGB: p.DiskGB, BandwidthMbps: p.BandwidthMbps})
	if err != nil {
		return apiFail(err)
	}
	return Ok("RunInstances with DryRun is allowed")
}

func (d *env) checkZone(ctx context.Context) Result {
	if r, skip := d.skipCloud(); skip {
		return r
	}
	cl, _ := d.cloud()
	zones, err := d.regionZones(ctx, cl)
	if err != nil {
		return apiFail(err)
	}
	for _, z := range zones {
		if z == d.c.TencentCloud.Zone {
			return Ok(d.c.TencentCloud.Zone + " is a zone of " + d.c.TencentCloud.Region)
		}
	}
	return Failf("set tencentcloud.zone to one of them", "%s is not among %s's zones (%s)", d.c.TencentCloud.Zone, d.c.TencentCloud.Region, strings.Join(zones, ", "))
}
