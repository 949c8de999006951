package batchloader

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipechaos/pipechaos/harness/checker"
)

// Both variants load every record while nothing goes wrong: the buggy
// job's defect needs a rebalance to show.
func TestHappyPath(t *testing.T) {
	for _, v := range []struct {
		name string
		new  func(Config) (*Job, error)
	}{{"fixed", New}, {"buggy", NewBuggy}} {
		t.Run(v.name, func(t *testing.T) {
			r := newRig(t, 4)
			j := r.job(v.new, r.config("nightly"))

			r.produce(200)
			rep := r.runOK(j)
			if rep.Records != 200 || rep.Partitions != 4 || rep.Objects != 4 {
				t.Fatalf("first run: %s; want 200 records from 4 partitions in 4 objects", rep)
			}
			if rep = r.runOK(j); rep.Records != 0 || !strings.Contains(rep.String(), "no new data") {
				t.Fatalf("second run with nothing new: %s", rep)
			}
			r.produce(120)
			if rep = r.runOK(j); rep.Records != 120 {
				t.Fatalf("third run: %s; want the 120 new records", rep)
			}

			res := r.check("loads/nightly/")
			if res.Verdict != checker.Ok || res.Lost != 0 || res.Duplicated != 0 || res.FoundRecords != 320 {
				t.Fatalf("checker: %s", res.Summary())
			}
			b := r.bookmarks(j)
			var total int64
			for _, bm := range b.Partitions {
				total += bm.Offset
			}
			if len(b.Partitions) != 4 || total != 320 || b.Run != 3 {
				t.Fatalf("bookmarks: %+v; want 4 partitions summing to 320 after run 3", b)
			}
		})
	}
}

// A run that owned all but one partition (a rebalance interrupted it)
// writes a bookmark file without that partition. The fixed job finds the
// partition in the topic's metadata and resumes it from the group's
// committed offset: nothing lost, nothing loaded twice. The buggy job never
// reads it again while every run reports success, and the freshness SLI is
// the only thing that grows.
func TestMissingBookmark(t *testing.T) {
	const lostP = 2
	seed := func(t *testing.T, newJob func(Config) (*Job, error), group string) (*rig, *Job, *clock) {
		r := newRig(t, 4)
		clk := &clock{t: time.Unix(1_700_000_000, 0)}
		cfg := r.config("nightly")
		cfg.Group, cfg.Now = group, clk.now
		j := r.job(newJob, cfg)
		r.produce(200)
		r.runOK(j)

		// The interrupted run: partition 2 was not assigned to it.
		r.produce(100)
		cfg.Assignment = without(lostP)
		interrupted := r.job(newJob, cfg)
		if rep := r.runOK(interrupted); rep.Partitions != 3 {
			t.Fatalf("interrupted run: %s; want 3 partitions", rep)
		}
		if _, ok := r.bookmarks(j).Partitions[lostP]; ok {
			t.Fatalf("the interrupted run kept partition %d's bookmark; the scenario needs it gone", lostP)
		}
		r.produce(100)
		return r, j, clk
	}

	t.Run("fixed resumes from the group offset", func(t *testing.T) {
		r, j, _ := seed(t, New, "nightly-group")
		rep := r.runOK(j)
		if !slices.Equal(rep.Reconciled, []int32{lostP}) || rep.Partitions != 4 {
			t.Fatalf("run after the interruption: %s, reconciled %v; want partition %d reconciled", rep, rep.Reconciled, lostP)
		}
		if res := r.check("loads/nightly/"); res.Verdict != checker.Ok || res.FoundRecords != 400 {
			t.Fatalf("checker: %s", res.Summary())
		}
		if _, ok := r.bookmarks(j).Partitions[lostP]; !ok {
			t.Fatalf("partition %d still has no bookmark after reconciliation", lostP)
		}
	})

	// Without a group the partition is reloaded from its earliest offset:
	// nothing is lost; the object that starts at offset 0 is rewritten
	// under the same name, later ones would be loaded twice.
	t.Run("fixed without a group reloads from the earliest offset", func(t *testing.T) {
		r, j, _ := seed(t, New, "")
		if rep := r.runOK(j); !slices.Equal(rep.Reconciled, []int32{lostP}) {
			t.Fatalf("%s, reconciled %v; want partition %d reconciled", rep, rep.Reconciled, lostP)
		}
		res := r.check("loads/nightly/", checker.MaxDuplicates(1<<30))
		if res.Lost != 0 || res.Verdict != checker.Ok {
			t.Fatalf("checker: %s; want nothing lost", res.Summary())
		}
	})

	t.Run("buggy never reads the partition again", func(t *testing.T) {
		r, j, clk := seed(t, NewBuggy, "nightly-group")
		for range 3 {
			clk.advance(time.Second)
			if rep := r.runOK(j); rep.Partitions != 3 {
				t.Fatalf("%s; want 3 partitions", rep)
			}
		}
		lag := j.Lag()
		if lag[lostP] < 3*time.Second {
			t.Fatalf("freshness of partition %d is %s after 3 successful runs without it; want ≥ 3s", lostP, lag[lostP])
		}
		for p, d := range lag {
			if p != lostP && d != 0 {
				t.Errorf("freshness of loaded partition %d is %s; want 0 right after a run on a stopped clock", p, d)
			}
		}
		res := r.check("loads/nightly/")
		if res.Lost == 0 || res.Verdict != checker.Illegal {
			t.Fatalf("checker: %s; want partition %d's later records lost", res.Summary(), lostP)
		}
	})
}

// The freshness SLI is now minus the moment the partition was last
// complete, for every partition of the topic, computed at scrape time; a
// new process takes that moment from the bookmark file.
func TestFreshness(t *testing.T) {
	r := newRig(t, 3)
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	cfg := r.config("fresh")
	cfg.Now = clk.now
	j := r.job(New, cfg)
	r.produce(30)
	r.runOK(j)
	clk.advance(1500 * time.Millisecond)
	want := func(j *Job, d time.Duration) {
		t.Helper()
		lag := j.Lag()
		if len(lag) != 3 {
			t.Fatalf("freshness has %d partitions, want 3: %v", len(lag), lag)
		}
		for p, got := range lag {
			if got != d {
				t.Errorf("partition %d: freshness %s, want %s", p, got, d)
			}
		}
	}
	want(j, 1500*time.Millisecond)

	// A new process that owns nothing still knows, from the file, when
	// each partition was last complete.
	cfg.Assignment = func([]int32) []int32 { return nil }
	idle := r.job(New, cfg)
	r.runOK(idle)
	want(idle, 1500*time.Millisecond)

	// idle rewrote the file for the partitions it owned: none. A process
	// that finds no bookmark counts from its first listing.
	late := r.job(New, cfg)
	r.runOK(late)
	want(late, 0)
	clk.advance(2 * time.Second)
	want(late, 2*time.Second)
	want(j, 3500*time.Millisecond)
}

// /metrics serves the SLI per partition and the run counters.
func TestMetricsEndpoint(t *testing.T) {
	r := newRig(t, 2)
	j := r.job(New, r.config("metered"))
	r.produce(40)
	r.runOK(j)
	srv := httptest.NewServer(j.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`pipeline_lag_seconds{partition="0",process="metered",topic="events"}`,
		`pipeline_lag_seconds{partition="1",process="metered",topic="events"}`,
		`pipechaos_batchloader_runs_total{process="metered",result="success"} 1`,
		`pipechaos_batchloader_runs_total{process="metered",result="failure"} 0`,
		`pipechaos_batchloader_records_loaded_total{process="metered"} 40`,
		`pipechaos_batchloader_objects_written_total{process="metered"} 2`,
		`pipechaos_batchloader_bookmark_offset{partition="0",process="metered"}`,
		`pipechaos_batchloader_reconciled_partitions_total{process="metered"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s\n%s", want, body)
		}
	}
}

// A run whose object write fails leaves the bookmarks where they were; the
// next run loads the same records into the same object names.
func TestFailedWriteKeepsBookmarks(t *testing.T) {
	r := newRig(t, 2)
	j := r.job(New, r.config("retry"))
	r.produce(50)
	r.runOK(j)
	before := r.bookmarks(j)
	r.produce(50)
	r.e.Store().Faults().Inject(envFault503())
	rep, err := j.RunOnce(context.Background())
	r.e.Store().Faults().Heal()
	if err == nil || rep.Success {
		t.Fatalf("run during a store outage: %s; want a failure", rep)
	}
	if after := r.bookmarks(j); after.Run != before.Run {
		t.Fatalf("bookmarks moved from run %d to %d although the write failed", before.Run, after.Run)
	}
	if rep = r.runOK(j); rep.Records != 50 {
		t.Fatalf("rerun: %s; want the 50 records again", rep)
	}
	if res := r.check("loads/retry/"); res.Verdict != checker.Ok || res.FoundRecords != 100 {
		t.Fatalf("checker: %s", res.Summary())
	}
}

func TestConfigValidation(t *testing.T) {
	_, err := New(Config{Prefix: "x", BookmarkKey: "x/b.json", RunTimeout: -1})
	if err == nil {
		t.Fatal("empty config accepted")
	}
	for _, want := range []string{"no brokers", "no topic", "no object store", "no bucket", "lies under the object prefix", "run timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validation error lacks %q:\n%v", want, err)
		}
	}
}

// clock is a settable clock for the freshness SLI.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
