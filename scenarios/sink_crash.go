package scenarios

// The sink that dies between writing and committing (INCIDENTS.md, beyond
// the lived incidents; incident 9 from the other side). A sink process is
// killed with kill -9 at three moments, in an order the seed draws: while
// the store holds one of its PUTs, after the store answered a PUT whose
// offsets the coordinator refuses to commit, and while the group
// rebalances because another member joined. A supervisor restarts it in
// the same group each time; the workload goes on; then everything drains.
//
// A sink that commits only what is durable loses nothing; one with
// deterministic object names also writes nothing twice. The buggy sink
// commits a chunk's offsets before writing it (s3sink.NewCommitBeforeWrite):
// killed mid-PUT, its restart resumes past the records it never wrote.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/workload"
)

var _ = register(&harness.Scenario{
	Name:        "sink-crash",
	Consequence: harness.Lost,
	Title:       "kill -9 of the sink mid-PUT, between a PUT and its commit, and during a rebalance",
	Story: "A sink process dies abruptly (OOM kill, node loss, kill -9) at the worst moments. One that committed " +
		"offsets before its objects were durable resumes past records it never wrote; one whose names are not " +
		"deterministic writes the uncommitted ones twice. Fix: write, then commit; name objects by their first offset.",
	Fault: "three kill -9 of the sink process at seeded points after 600-5500 of 8000 acked records: while the store holds " +
		"its PUT, after a PUT whose commit the coordinator refuses, while the group rebalances; restarted each time",
	Checks: "0 lost (exactly-once: 0 duplicates, unless at-least-once is declared); every kill met the data; the group drains",
	Budget: 60 * time.Second,
	Run:    runSinkCrash,
})

var crashSinks = processSinks("sink-crash", s3sink.NewCommitBeforeWrite, nil, 0)

const (
	crashTopic   = "shipments"
	crashRecords = 8000
	crashRate    = 1000
)

func runSinkCrash(ctx context.Context, r *harness.Run) error {
	pl, err := startPipeline(ctx, r, crashTopic, 6, supervise(crashSinks(r)), groupLagProbe)
	if err != nil {
		return err
	}
	defer pl.close()
	var others []*runningSink
	k := &killer{r: r, sv: pl.supervised(), others: func() []*runningSink { return others }, admin: kadm.NewClient(pl.admin), group: sinkGroup, prefix: "topics/" + crashTopic + "/", join: func() error {
		s, err := startSink(ctx, r, env.Primary, crashTopic, sinkGroup, crashSinks(r))
		if err == nil {
			others = append(others, s)
		}
		return err
	}}
	r.Logf("the %s sink process consumes %q (6 partitions) under a supervisor", r.Variant, crashTopic)
	met := k.schedule(ctx, 600, 2200)
	_, perr := r.Produce(ctx, workload.Config{Topic: crashTopic, Records: crashRecords, Rate: crashRate}, pl.prod)
	missed := <-met
	for _, s := range others {
		defer s.stop()
	}
	if perr != nil {
		return perr
	}
	narrateFaults(r)
	r.Metric("sink_instances", float64(pl.supervised().Instances()))
	// Each kill leaves a member the coordinator waits for until its
	// session times out: give the group time to settle before the drain.
	r.Drained(ctx, env.Primary, sinkGroup, crashTopic, 3*drainTimeout)
	res, err := drainAndCheckResult(ctx, r, pl.sink, crashTopic)
	if err == nil && len(missed) > 0 && res.Lost == 0 { // a loss is a loss; no loss proves nothing
		r.Inconclusive("kill points never met the data: %v", missed)
	}
	return err
}
