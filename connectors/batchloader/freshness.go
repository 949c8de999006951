package batchloader

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LagMetric is the freshness SLI's name.
const LagMetric = "pipeline_lag_seconds"

// freshness is the SLI pipeline_lag_seconds{partition}: for every partition
// of the topic, the age of the oldest record that may not be in the bucket
// yet.
//
// Precisely: let T(p) be the latest moment as of which the bucket holds
// every record of partition p — the time a run listed p's end offset, when
// that run then loaded p up to that offset and stored its bookmark. Every
// record acknowledged before T(p) is loaded; the oldest record that may
// not be was produced after T(p). The SLI at scrape time is now − T(p).
// A job that keeps up shows a sawtooth between the run's duration and the
// interval between runs (the price of batching); a partition nobody loads
// grows one second per second, whatever the runs report. A partition the
// job has never loaded counts from when a run first listed it (or from the
// bookmark file's complete_as_of, carried across processes).
//
// The partitions come from the topic's metadata, listed by every run, not
// from the bookmark file: the SLI watches what the topic has, which is how
// it catches a job that forgot a partition.
type freshness struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu       sync.Mutex
	seen     map[int32]time.Time // partition → when a run first listed it
	complete map[int32]time.Time // partition → T(p)
}

func newFreshness(process, topic string, now func() time.Time) *freshness {
	return &freshness{
		desc: prometheus.NewDesc(LagMetric,
			"Freshness SLI: seconds since the latest moment as of which every record of the partition was in the bucket (an upper bound on the age of the oldest unloaded record).",
			[]string{"partition"}, prometheus.Labels{"process": process, "topic": topic}),
		now:      now,
		seen:     map[int32]time.Time{},
		complete: map[int32]time.Time{},
	}
}

// saw notes the partitions a run listed, and what the stored bookmarks say
// about their completeness.
func (f *freshness) saw(t topicState, bm Bookmarks) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range t.partitions {
		if _, ok := f.seen[p]; !ok {
			f.seen[p] = t.listedAt
		}
		if b, ok := bm.Partitions[p]; ok && b.CompleteAsOf.After(f.complete[p]) {
			f.complete[p] = b.CompleteAsOf
		}
	}
}

// loaded notes the bookmarks a run stored: a partition whose bookmark
// reached the end offset listed at t.listedAt was complete as of then.
func (f *freshness) loaded(bm Bookmarks, t topicState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p, b := range bm.Partitions {
		if end, ok := t.end[p]; ok && b.Offset >= end && t.listedAt.After(f.complete[p]) {
			f.complete[p] = t.listedAt
		}
	}
}

// lag is the SLI of every partition at now.
func (f *freshness) lag(now time.Time) map[int32]time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[int32]time.Duration, len(f.seen))
	for p, first := range f.seen {
		t := f.complete[p]
		if t.IsZero() {
			t = first
		}
		out[p] = max(now.Sub(t), 0)
	}
	return out
}

// Lag returns the freshness SLI of every partition the job has listed, now.
func (j *Job) Lag() map[int32]time.Duration { return j.fresh.lag(j.cfg.Now()) }

func (f *freshness) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

func (f *freshness) Collect(ch chan<- prometheus.Metric) {
	for p, d := range f.lag(f.now()) {
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, d.Seconds(), strconv.Itoa(int(p)))
	}
}
