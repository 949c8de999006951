package checker

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// BenchmarkChecker10M checks a run of 10M records, all acked and all found
// once, in order, over 1000 keys in 12 partitions: building the ledger,
// feeding every record and computing the Result. Targets: ≤ 2 s and
// ≤ 256 MiB of heap per 10M records (reported, never asserted).
func BenchmarkChecker10M(b *testing.B) {
	const n = 10_000_000
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%04d", i)
	}
	const object = "topics/events/partition=0/events+0+0.avro"

	runtime.GC()
	peak := sampleHeap(b)
	var records int
	for b.Loop() {
		l := NewLedger()
		for id := uint64(1); id <= n; id++ {
			l.Ack(id)
		}
		c := New(l)
		for id := uint64(1); id <= n; id++ {
			k := id % uint64(len(keys))
			c.Record(Found{ID: id, Key: keys[k], Partition: int32(k % 12), Object: object})
		}
		if r := c.Result(); r.Verdict != Ok || r.FoundUnique != n {
			b.Fatalf("%s\n%v", r.Summary(), r.Err())
		}
		records += n
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
	b.ReportMetric(float64(peak())/(1<<20), "peak-MiB")
}

// sampleHeap samples the live heap every millisecond until the returned
// function is called, which returns the largest sample.
func sampleHeap(tb testing.TB) func() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	read := func() {
		metrics.Read(s)
		mu.Lock()
		peak = max(peak, s[0].Value.Uint64())
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				read()
			}
		}
	}()
	var once sync.Once
	stop := func() uint64 {
		once.Do(func() { close(done); wg.Wait(); read() })
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
	tb.Cleanup(func() { stop() })
	return stop
}
