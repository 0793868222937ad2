// Package report prints provision's plans, progress and summary for a person: one line per step, the
// price, the backends' addresses and the domains to enter in the mini program console.
package report

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/game"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/video"
)

var planMark = map[provision.Action]string{provision.Create: "+", provision.Update: "~", provision.Replace: "±", provision.Delete: "-", provision.Keep: "=", provision.Skip: " "}

// Plan prints each change, the instance's price and the plan's warnings.
func Plan(out io.Writer, plan *provision.Plan) {
	fmt.Fprintln(out, "Plan:")
	for _, c := range plan.Changes {
		fmt.Fprintf(out, "  %s %-15s %-8s %s\n", planMark[c.Action], c.Step, c.Action, c.Detail)
	}
	if plan.Price != nil {
		fmt.Fprintf(out, "Price: the instance costs %.2f %s an hour, plus %.2f %s per GB of outbound traffic.\n", plan.Price.PerHour, plan.Price.Currency, plan.Price.Traffic, plan.Price.Currency)
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(out, "Warning: %s\n", w)
	}
}

// Site is what the summary names: the domain and where the album's images are downloaded from.
type Site struct {
	Domain string
	// ImageHost is the bucket's public host ("": the album serves images from the domain).
	ImageHost string
	CloudOnly bool
}

// BucketHost is a bucket's public host: its custom domain, or its own.
func BucketHost(bucket, region, publicDomain string) string {
	if publicDomain != "" {
		return publicDomain
	}
	return bucket + ".cos." + region + ".myqcloud.com"
}

// Summary prints the backends, the console's server domains and the instance.
func Summary(out io.Writer, s Site, res provision.Result) {
	base := "https://" + s.Domain
	fmt.Fprintln(out, "Backends:")
	fmt.Fprintf(out, "  album    %s%s\n", base, album.BasePath)
	fmt.Fprintf(out, "  game     wss://%s%s\n", s.Domain, game.BasePath)
	fmt.Fprintf(out, "  session  %s%s\n", base, session.BasePath)
	fmt.Fprintf(out, "  video    %s%s\n", base, video.BasePath)
	download := base
	if s.ImageHost != "" {
		download += ", https://" + s.ImageHost
	}
	fmt.Fprintln(out, "Mini program console, Development → Server domains (开发管理 → 服务器域名):")
	fmt.Fprintf(out, "  request       %s\n  uploadFile    %s\n  downloadFile  %s\n  socket        wss://%s\n", base, base, download, s.Domain)
	switch {
	case res.LoadBalancerID != "":
		var ins []string
		for _, in := range res.Instances {
			ins = append(ins, in.ID+" ("+in.PublicIP+")")
		}
		fmt.Fprintf(out, "Instances %s behind load balancer %s at %s; the four backends answered through https://%s.\n", strings.Join(ins, ", "), res.LoadBalancerID, res.LoadBalancerAddress, s.Domain)
	case res.PublicIP != "" && s.CloudOnly:
		fmt.Fprintf(out, "Instance %s at %s. With provision.cloud_only, the certificate, nginx and the services are yours to set up.\n", res.InstanceID, res.PublicIP)
	case res.PublicIP != "":
		fmt.Fprintf(out, "Instance %s at %s; the four backends answered through https://%s.\n", res.InstanceID, res.PublicIP, s.Domain)
	}
}

// Progress prints one line per step as it ends (and, on a terminal, as it starts).
type Progress struct {
	mu  sync.Mutex
	out io.Writer
	tty bool
}

// NewProgress prints to out; tty also shows steps as they start.
func NewProgress(out io.Writer, tty bool) *Progress { return &Progress{out: out, tty: tty} }

// Event prints one step's event.
func (p *Progress) Event(e provision.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Status == "running" {
		if p.tty {
			fmt.Fprintf(p.out, "  … %-15s running\n", e.Step)
		}
		return
	}
	mark := "✓"
	switch e.Status {
	case "failed":
		mark = "✗"
	case "skipped":
		mark = "-"
	}
	fmt.Fprintf(p.out, "  %s %-15s %-8s %6.1fs  %s\n", mark, e.Step, e.Status, e.Took.Seconds(), e.Detail)
}
