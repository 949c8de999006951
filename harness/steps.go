package harness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/nemesis"
	"github.com/pipechaos/pipechaos/harness/sampler"
	"github.com/pipechaos/pipechaos/harness/workload"
)

// The steps every scenario takes, so that a scenario reads top to bottom:
// environment → workload → nemesis schedule → heal → drain → check.

// CreateTopic creates topic in a region.
func (r *Run) CreateTopic(ctx context.Context, region, topic string, partitions int32) error {
	reg := r.Env.Region(region)
	if reg == nil {
		return fmt.Errorf("create topic: unknown region %q", region)
	}
	return reg.CreateTopic(ctx, topic, partitions)
}

// Produce runs a workload through p. The run's seed, history and registry
// are filled in where cfg leaves them empty. At scale N the workload has N
// times the records at N times the rate (and its schema steps start at N
// times their record IDs).
func (r *Run) Produce(ctx context.Context, cfg workload.Config, p workload.Producer) (workload.Stats, error) {
	if s := r.Scale(); s > 1 {
		cfg.Records *= s
		cfg.Rate *= float64(s)
		if cfg.ProgressEvery > 0 {
			cfg.ProgressEvery *= int64(s)
		}
		steps := append([]workload.SchemaStep(nil), cfg.Schemas...)
		for i := range steps {
			if steps[i].From > 1 {
				steps[i].From = (steps[i].From-1)*uint64(s) + 1
			}
		}
		cfg.Schemas = steps
	}
	if cfg.Seed == 0 {
		cfg.Seed = r.Seed
	}
	if cfg.History == nil {
		cfg.History = r.History
	}
	if cfg.RegistryURL == "" {
		cfg.RegistryURL = r.Env.Registry().URL()
	}
	st, err := workload.Run(ctx, cfg, p)
	r.Logf("workload: %s", st)
	for _, e := range st.FirstErrors {
		r.Logf("  producer saw: %s", e)
	}
	return st, err
}

// Schedule starts the nemesis schedule; Stop the returned value to heal.
func (r *Run) Schedule(ctx context.Context, steps ...nemesis.Step) *nemesis.Running {
	s := &nemesis.Schedule{Env: r.Env, History: r.History, Seed: r.Seed, Steps: steps, Logf: r.Logf}
	return s.Run(ctx)
}

// Sample starts sampling the probes into the history every 100ms.
func (r *Run) Sample(ctx context.Context, probes ...sampler.Probe) *sampler.Sampler {
	return sampler.Start(ctx, r.History, 100*time.Millisecond, probes...)
}

// StoreProbe samples the object store's request counters (the cost side).
func (r *Run) StoreProbe() sampler.Probe {
	return sampler.HTTPCost("store", r.Env.Store().Faults())
}

// Drained waits until the consumer group has committed every record of the
// topic in region (committed offset = log end offset on every partition),
// or until timeout (at scale N, N times timeout). It reports the lag left.
// The harness learns that a sink is done from Kafka, not from the sink's
// own word.
func (r *Run) Drained(ctx context.Context, region, group, topic string, timeout time.Duration) (bool, int64) {
	lag := int64(-1)
	err := r.pollRegion(ctx, region, timeout, func(ctx context.Context, adm *kadm.Client) bool {
		if l, ok := groupLag(ctx, adm, group, topic); ok {
			lag = l
		}
		return lag == 0
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		r.Logf("drain: %v", err)
	}
	return err == nil, lag
}

// CoordinatorReady waits until region's Kafka serves group's committed
// offsets (at scale N, N times timeout). On a fresh real cluster the first
// group request creates __consumer_offsets, and until its partitions have
// leaders every group request fails with COORDINATOR_NOT_AVAILABLE: a job
// that ran then would look stale for reasons of the harness's making.
func (r *Run) CoordinatorReady(ctx context.Context, region, group string, timeout time.Duration) error {
	var last error
	err := r.pollRegion(ctx, region, timeout, func(ctx context.Context, adm *kadm.Client) bool {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		offs, err := adm.FetchOffsets(qctx, group)
		if err == nil {
			err = offs.Error()
		}
		last = err
		// A coordinator that says it has no such group has answered.
		return err == nil || errors.Is(err, kerr.GroupIDNotFound)
	})
	if err != nil {
		return fmt.Errorf("the %s region's group coordinator for %s did not answer within %s: %w (last answer: %v)", region, group, r.ScaledTimeout(timeout), err, last)
	}
	return nil
}

// pollRegion calls try with an admin client of region every 50ms until it
// reports done, or until timeout (at scale N, N times timeout) or ctx ends.
func (r *Run) pollRegion(ctx context.Context, region string, timeout time.Duration, try func(context.Context, *kadm.Client) bool) error {
	cl, err := r.Env.Region(region).Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, r.ScaledTimeout(timeout))
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if try(ctx, adm) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// groupLag is the total lag of group on topic; ok is false if it could not
// be computed (group unknown, broker unreachable).
func groupLag(ctx context.Context, adm *kadm.Client, group, topic string) (int64, bool) {
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(qctx, topic)
	if err != nil || ends.Error() != nil {
		return 0, false
	}
	offs, err := adm.FetchOffsets(qctx, group)
	if err != nil {
		return 0, false
	}
	var total int64
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		c, has := offs.Lookup(topic, o.Partition)
		committed := int64(0)
		if has && c.Err == nil && c.At >= 0 {
			committed = c.At
		}
		if o.Offset > committed {
			total += o.Offset - committed
		}
	})
	return total, ok
}

// StoreClient is a minio-go client for the environment's store.
func StoreClient(st env.Store) (*minio.Client, error) {
	cl, err := minio.New(st.Endpoint(), &minio.Options{
		Creds:  credentials.NewStaticV4(st.AccessKey(), st.SecretKey(), ""),
		Secure: false,
	})
	if err != nil {
		return nil, fmt.Errorf("store client: %w", err)
	}
	return cl, nil
}

// CheckStore reads every object under prefix in the bucket and checks it
// against the produce history; the result is the run's store check.
func (r *Run) CheckStore(ctx context.Context, prefix string, opts ...checker.Option) (checker.Result, error) {
	cl, err := StoreClient(r.Env.Store())
	if err != nil {
		return checker.Result{}, err
	}
	c := checker.New(runLedger(r), opts...)
	ro := checker.ReadOptions{Progress: func(_, records int64) { r.progress.Verified(records) }}
	if err := checker.ReadStoreWith(ctx, cl, r.Env.Store().Bucket(), prefix, c, ro); err != nil {
		r.Logf("store could not be read completely: %v", err)
	}
	res := c.Result()
	r.SetCheck(res)
	r.Logf("checker: %s", res.Summary())
	return res, nil
}

// runLedger is the ledger of the run's produce outcomes.
func runLedger(r *Run) *checker.Ledger { return checker.LedgerFromHistory(r.History) }
