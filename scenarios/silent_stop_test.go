package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env/backends"
)

// TestSilentStop reproduces incident 8: a rebalance drops one partition
// from a batch job's bookmark file, and the job that reads only bookmarked
// partitions never loads it again while every run reports success.
func TestSilentStop(t *testing.T) { runScenario(t, "silent-stop") }

// TestSilentStopDetectionLatency holds the batch loader's freshness SLI to
// its promise: the buggy job's own pipeline_lag_seconds flags the stopped
// partition within 2s of the moment the harness saw its data stop reaching
// the bucket. The scenario's verdict never reads that SLI; this test of
// the connector's alert does.
func TestSilentStopDetectionLatency(t *testing.T) {
	s, _ := Lookup("silent-stop")
	seed, err := harness.Seed(s.Name)
	if err != nil {
		t.Fatal(err)
	}
	out := harness.Execute(context.Background(), s, harness.Buggy, backends.New(t), seed, t.Logf)
	if out.Error != "" || out.Skipped != "" {
		t.Fatalf("could not run: %s%s", out.Error, out.Skipped)
	}
	const silentDetectIn = 2 * time.Second
	if _, ok := out.Metrics["stale_partition"]; !ok {
		t.Fatalf("the harness never saw the stopped partition stale: %s\nreplay: %s", out.Failure, out.Replay())
	}
	d, ok := out.Metrics["sli_detection_latency_seconds"]
	switch {
	case !ok:
		t.Fatalf("the stopped partition was never flagged by the freshness SLI: %s\nreplay: %s", out.Failure, out.Replay())
	case d > silentDetectIn.Seconds() || d <= 0:
		t.Fatalf("the freshness SLI flagged the stopped partition after %.2fs, want within (0, %s]\nreplay: %s", d, silentDetectIn, out.Replay())
	}
	t.Logf("stopped partition flagged %.2fs after it stopped being loaded (peak freshness %.2fs) in %s",
		d, out.Metrics["freshness_peak_seconds"], out.Elapsed.Round(1e6))
}
