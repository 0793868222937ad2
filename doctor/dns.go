package doctor

import (
	"context"
	"strings"

	"github.com/qcloud-applet/applet/provision"
)

func (d *env) checkDNS(ctx context.Context) Result {
	if !d.deployed() {
		return Skip(localSkip)
	}
	ips, err := d.resolve(ctx)
	if err != nil {
		return Failed(d.c.Domain+" does not resolve: "+err.Error(), "create its A record (applet provision does), or wait for it to propagate")
	}
	in, err := d.instance(ctx)
	if err != nil {
		return Ok(d.c.Domain + " resolves to " + strings.Join(ips, ", ") + " (the instance could not be looked up: " + err.Error() + ")")
	}
	for _, ip := range ips {
		if ip == in.PublicIP {
			return Ok(d.c.Domain + " resolves to " + ip + ", the instance " + in.ID)
		}
	}
	return Failf("point the A record at "+in.PublicIP+" (applet provision fixes it)", "%s resolves to %s, but the instance %s is at %s", d.c.Domain, strings.Join(ips, ", "), in.ID, in.PublicIP)
}

func (d *env) checkICP(ctx context.Context) Result {
	region := d.c.TencentCloud.Region
	if region == "" {
		region = d.c.COS.Region
	}
	switch {
	case !d.deployed():
		return Skip(localSkip)
	case region == "":
		return Skip("no region configured")
	case provision.Mainland(region):
		return Warning(region+" is in mainland China: "+d.c.Domain+" answers on 80 and 443 only once its ICP filing (备案) is done; no API can check it", "file the domain for ICP in the Tencent Cloud console, or deploy in ap-hongkong or abroad")
	}
	return Ok(region + " needs no ICP filing")
}
