// Package loadtest drives an operation from concurrent workers for a while and measures throughput
// and latency, for the benchmarks that compare two ways of doing the same work in one run.
package loadtest

import (
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Result is what one load run measured.
type Result struct {
	Ops      int
	PerSec   float64
	P50, P99 time.Duration
}

// Run calls op from workers goroutines for d. Each worker has its own seeded random source.
func Run(b testing.TB, workers int, d time.Duration, op func(r *rand.Rand) error) Result {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []time.Duration
			for time.Now().Before(stop) {
				t0 := time.Now()
				if err := op(r); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(lat) == 0 {
		b.Fatal("no operation completed")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return Result{Ops: len(lat), PerSec: float64(len(lat)) / elapsed.Seconds(), P50: lat[len(lat)/2], P99: lat[len(lat)*99/100]}
}

// RSSKB is this process's resident memory in KiB, from /proc (0 where there is none).
func RSSKB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// Ms is a duration in milliseconds, for b.ReportMetric.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
