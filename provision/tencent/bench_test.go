package tencent_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/internal/fakes/tcfake"
	"github.com/qcloud-applet/applet/provision"
	"github.com/qcloud-applet/applet/provision/tencent"
)

const (
	benchID  = "AKIDbench000000000000000000000000000001"
	benchKey = "bench-secret-key-0000000000000001"
)

// BenchmarkProvisionCriticalPath provisions a fresh deployment against the stand-ins with every call
// answered after 100 ms and instances booting in 30 s (PROVISION_BENCH_BOOT overrides), with the
// default poll interval. It reports the wall time of plan + apply as a ratio of the critical path: the
// least time the dependency chain allows (the plan's longest read chain, the security group's two
// writes, RunInstances, the boot, the one look that sees it running, the record), and the API calls of
// a second run that has nothing to change.
func BenchmarkProvisionCriticalPath(b *testing.B) {
	boot := 30 * time.Second
	if v := os.Getenv("PROVISION_BENCH_BOOT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		boot = d
	}
	const latency = 100 * time.Millisecond
	for i := 0; i < b.N; i++ {
		tc, err := tcfake.New(benchID, benchKey)
		if err != nil {
			b.Fatal(err)
		}
		tc.AddDomain("example.com")
		tc.SetBootDelay(boot)
		tc.SetLatency(latency)
		cs, err := cosfake.New(benchID, benchKey)
		if err != nil {
			b.Fatal(err)
		}
		cs.DelayNext(1<<20, latency)

		creds := tencent.Credentials{SecretID: benchID, SecretKey: benchKey, Source: "bench"}
		cfg := tencent.NewDefaultConfig("ap-guangzhou")
		cfg.Credentials, cfg.Endpoint = creds, "http://"+tc.Addr
		client, err := tencent.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		buckets, err := tencent.NewBuckets(tencent.BucketConfig{Credentials: creds, Bucket: "album-1250000000", Region: "ap-guangzhou", Endpoint: cs.Addr})
		if err != nil {
			b.Fatal(err)
		}
		dir := b.TempDir()
		pcfg := provision.Config{Deployment: "bench", Domain: "applet.example.com", DNSZone: "example.com", Region: "ap-guangzhou",
			Instance:     provision.InstanceSpec{Zone: "ap-guangzhou-3", ImageID: "img-487zeit5", Type: "S5.MEDIUM2", DiskGB: 50, BandwidthMbps: 5},
			PollInterval: config.Default().Provision.PollInterval, BootTimeout: 5 * time.Minute}
		deps := provision.Deps{Compute: client.Compute(), Firewall: client.Firewall(), DNS: client.DNS(), Buckets: buckets}
		var mu sync.Mutex
		took := map[string]time.Duration{}
		progress := func(e provision.Event) {
			if e.Status != "running" {
				mu.Lock()
				took[e.Step] = e.Took
				mu.Unlock()
			}
		}
		newProv := func() *provision.Provisioner {
			j, err := provision.OpenJournal(dir, "bench")
			if err != nil {
				b.Fatal(err)
			}
			p, err := provision.New(pcfg, deps, j, progress)
			if err != nil {
				b.Fatal(err)
			}
			return p
		}
		ctx := context.Background()
		b.StartTimer()
		start := time.Now()
		p := newProv()
		plan, err := p.Plan(ctx)
		if err != nil {
			b.Fatal(err)
		}
		planTook := time.Since(start)
		if _, err := p.Apply(ctx, plan); err != nil {
			b.Fatal(err)
		}
		wall := time.Since(start)
		b.StopTimer()

		// The plan's longest chain is the instance's: DescribeInstances, then DescribeZones and
		// InquiryPriceRunInstances side by side.
		critical := 2*latency + 2*latency + latency + boot + latency + latency
		measured := planTook + took[provision.StepFirewall] + took[provision.StepInstance] + took[provision.StepDNS]

		tc.ResetCalls()
		p2 := newProv()
		plan2, err := p2.Plan(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if !plan2.NoChange() {
			b.Fatalf("second run plans changes: %+v", plan2.Changes)
		}
		calls := tc.Calls()
		writes := len(tc.Writes())
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(critical.Seconds(), "critical-s")
		b.ReportMetric(wall.Seconds()/critical.Seconds(), "wall/critical")
		b.ReportMetric(float64(len(calls)), "calls/no-change-run")
		fmt.Fprintf(os.Stderr, "plan %s, security-group %s, instance %s, dns-record %s, bucket %s; measured chain %s; wall %s; critical path %s; no-change run: %d API calls (%d writes)\n",
			planTook.Round(time.Millisecond), took[provision.StepFirewall].Round(time.Millisecond), took[provision.StepInstance].Round(time.Millisecond),
			took[provision.StepDNS].Round(time.Millisecond), took[provision.StepBucket].Round(time.Millisecond), measured.Round(time.Millisecond),
			wall.Round(time.Millisecond), critical, len(calls), writes)
		for _, c := range calls {
			fmt.Fprintf(os.Stderr, "  %s %s\n", c.Service, c.Action)
		}
		tc.Close()
		cs.Close()
	}
}
