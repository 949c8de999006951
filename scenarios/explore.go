package scenarios

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/explore"
)

// Explore searches the fault space against a user's sink (see
// harness/explore): schedules drawn from a seed (explore.Seed, default 1),
// each run in a fresh embedded environment, for a budget (explore.Runs,
// default 10; explore.Time). The test fails if a run ends Illegal — with
// the minimal schedule, its narrative and its regression file (written to
// $PIPECHAOS_REGRESSION_DIR, else the test's temp dir, and printed) — or if
// no run was Ok: an exploration in which no fault met the data tested
// nothing. It returns the report.
func Explore(t *testing.T, build connectors.SinkFactory, opts ...explore.Opt) *explore.Report {
	t.Helper()
	o := explore.Options{Config: explore.Config{Sink: explore.InProcess(build), SinkName: "user-sink"}, Runs: 10}
	o.Dir = os.Getenv("PIPECHAOS_REGRESSION_DIR")
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	for _, opt := range opts {
		opt(&o)
	}
	o.Progress = func(i int, r explore.Result) {
		t.Logf("run %d seed %d: %s %s %s (%s)", i+1, r.Schedule.Seed, r.Verdict, r.Class, r.Why, r.Elapsed.Round(time.Millisecond))
	}
	rep, err := explore.Explore(context.Background(), o)
	if err != nil {
		t.Fatalf("explore: %v", err)
	}
	t.Logf("%d schedules: %d ok, %d illegal, %d unknown, %d could not run", len(rep.Runs), rep.Ok, rep.Illegal, rep.Unknown, rep.Errors)
	for _, f := range rep.Findings {
		b, _ := os.ReadFile(f.File)
		t.Errorf("BUG REPRODUCED: %s\nminimal schedule (%d of %d replays confirm it):\n%s\nregression file %s:\n%s",
			f.Narrative, f.Confirmed, f.Confirmations, f.Minimal.Schedule, f.File, b)
	}
	if rep.Illegal == 0 && rep.Ok == 0 {
		t.Errorf("no run was conclusive (%d unknown, %d could not run): no fault met the data, nothing was tested", rep.Unknown, rep.Errors)
	}
	return rep
}

// Regression replays a regression file written by explore against a
// user's sink: one line in a test turns a finding into a regression test.
// The test fails if the recorded consequence comes back, and also if the
// replay is inconclusive (Unknown: the fault did not meet the data).
func Regression(t *testing.T, path string, build connectors.SinkFactory) explore.Replayed {
	t.Helper()
	reg, err := explore.ReadRegression(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := explore.Replay(context.Background(), explore.Config{Sink: explore.InProcess(build), SinkName: "user-sink"}, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replay of %s: %s", path, r.Says)
	switch {
	case r.Result.Error != "":
		t.Fatalf("the replay could not run: %s", r.Result.Error)
	case r.Reproduced:
		t.Errorf("BUG REPRODUCED: %s\nrecorded: %s", r.Result.Why, reg.Narrative)
	case r.Result.Verdict == checker.Illegal:
		t.Errorf("BUG REPRODUCED (another consequence): %s", r.Result.Why)
	case r.Result.Verdict != checker.Ok:
		t.Errorf("inconclusive replay: %s", r.Result.Why)
	}
	return r
}
