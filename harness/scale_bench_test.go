package harness

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/history"
)

// BenchmarkScale is the harness's own side of the baseline scenario at 1M
// and 10M records: every produce outcome recorded in the history as the
// workload records it (key, region, topic, partition, offset), a sink write
// every 1000 records and store/lag samples every 100ms of simulated time,
// then Execute's end of the run: the ledger built from the history, every
// record fed to the checker once, the outcome's events for the reports.
// The broker and the store are left out: they are not the harness (on the
// embedded backend they share the process, on the others they do not).
//
// Reported: wall time (ns/op), the process's peak RSS during the run
// (VmHWM after resetting it), and history bytes per produced record (live
// heap held by the history once the workload is recorded, after a GC).
// Goals: 10M within 2 GiB of RSS and at most 16 bytes per record.
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("baseline-%dM", n/1_000_000), func(b *testing.B) {
			for b.Loop() {
				benchScale(b, n)
			}
		})
	}
}

func benchScale(b *testing.B, n int) {
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%02d", i)
	}
	const partitions = 6
	var histBytes float64
	s := &Scenario{Name: "scale", Budget: time.Hour, Run: func(_ context.Context, r *Run) error {
		runtime.GC()
		before := heapInUse()
		offsets := make([]int64, partitions)
		for i := 1; i <= n; i++ {
			k := i % len(keys)
			p := int32(k % partitions)
			r.History.Produced("producer", uint64(i), keys[k], history.Acked, "primary", "events", p, offsets[p], nil)
			offsets[p]++
			if i%1000 == 0 {
				r.History.Wrote("sink", fmt.Sprintf("topics/events/partition=%d/events+%d+%d.avro", p, p, offsets[p]), 1000, 140_000)
			}
			if i%3000 == 0 {
				r.History.Sample("lag", map[string]string{"partition": strconv.Itoa(int(p))}, float64(i%5000))
				r.History.Sample("pipechaos_store_requests_total", nil, float64(i/1000))
			}
		}
		runtime.GC()
		histBytes = float64(heapInUse()-before) / float64(n)

		c := checker.New(runLedger(r))
		for i := 1; i <= n; i++ {
			k := i % len(keys)
			c.Record(checker.Found{ID: uint64(i), Key: keys[k], Partition: int32(k % partitions), Object: "o"})
		}
		r.SetCheck(c.Result())
		return nil
	}}
	resetPeakRSS(b)
	start := time.Now()
	out := Execute(context.Background(), s, Fixed, noEnv{}, 1, nil)
	wall := time.Since(start)
	if out.Failure != "" || out.Error != "" {
		b.Fatalf("scale run failed: %s%s", out.Failure, out.Error)
	}
	if out.Check.FoundUnique != n {
		b.Fatalf("checker found %d of %d", out.Check.FoundUnique, n)
	}
	rss := peakRSS(b)
	b.ReportMetric(wall.Seconds(), "wall-s")
	b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(histBytes, "history-B/record")
	b.ReportMetric(float64(len(out.Events)), "report-events")
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// resetPeakRSS resets the kernel's high-water mark of the process's RSS.
func resetPeakRSS(b *testing.B) {
	runtime.GC()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("peak RSS cannot be reset (%v): it includes what ran before", err)
	}
}

// peakRSS is VmHWM from /proc/self/status, in bytes.
func peakRSS(b *testing.B) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("peak RSS needs /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	b.Skip("no VmHWM in /proc/self/status")
	return 0
}
