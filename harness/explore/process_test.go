package explore

import (
	"context"
	"testing"
	"time"

	"github.com/pipechaos/pipechaos/harness/checker"
)

// TestProcessBackedSUT runs the commit-before-write sink as a child process
// (harness/sut): the PUTs are held 300 ms by the store, the process is
// killed with SIGKILL while one is in flight for records the group already
// committed, and later frozen with SIGSTOP for 300 ms. The loss must
// follow from the real kill; the pause is supported and fires.
func TestProcessBackedSUT(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts sink processes")
	}
	sink, err := BuiltinProcess(SinkCommitBeforeWrite)
	if err != nil {
		t.Fatal(err)
	}
	s := Schedule{Seed: 5, Workload: Workload{Records: 800, Partitions: 2, Rate: 1500}, Steps: []Step{
		{Fault: StoreLatency, LatencyMS: 300, Trigger: Trigger{Phase: Acks, AfterAcks: 100}, HoldMS: 1500},
		{Fault: SinkKill, Trigger: Trigger{Phase: CommitAhead, AfterAcks: 200}, HoldMS: 100},
		{Fault: SinkPause, Trigger: Trigger{Phase: Acks, AfterAcks: 500}, HoldMS: 300},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := Run(ctx, Config{Sink: sink, SinkName: SinkCommitBeforeWrite}, s)
	t.Logf("%s %s: %s", r.Verdict, r.Class, Narrative(r))
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	if !r.Steps[1].Fired || !r.Steps[2].Fired {
		t.Fatalf("the kill or the pause did not fire: %+v", r.Steps)
	}
	if r.Steps[2].Err != "" {
		t.Errorf("pause: %s", r.Steps[2].Err)
	}
	if r.Verdict != checker.Illegal || r.Class != ClassLost {
		t.Errorf("a SIGKILL between the commit and its PUT must lose records: got %s %s (%s)", r.Verdict, r.Class, r.Why)
	}
}
