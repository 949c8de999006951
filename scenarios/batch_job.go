package scenarios

// The batch job under test in silent-stop — the user's (JobConformance) or
// the variant's batch loader — run on a schedule by the harness, which
// numbers the runs and keeps how each ended for the narrative.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/connectors/batchloader"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/nemesis"
)

// silentJob is the batch job under test: the user's (JobConformance), or
// the variant's batch loader. Either owns what the rebalance leaves it
// through cut's assignment hook and loads under prefix.
func silentJob(r *harness.Run, cut *nemesis.AssignmentCut, prefix string) (connectors.Job, error) {
	boot := r.Env.Region(env.Primary).Bootstrap()
	st := r.Env.Store()
	if u := rolesOf(r); u != nil && u.job != nil {
		a := connectors.JobAddresses{
			Addresses: connectors.Addresses{Brokers: boot, Topic: silentTopic, Group: silentGroup, RegistryURL: r.Env.Registry().URL(),
				S3Endpoint: st.Endpoint(), S3AccessKey: st.AccessKey(), S3SecretKey: st.SecretKey(), Bucket: st.Bucket()},
			Prefix: prefix,
			Assign: cut.Assignment,
		}
		j, err := u.job(a)
		if err == nil && j == nil {
			err = errors.New("the factory returned no job and no error")
		}
		if err != nil {
			return nil, fmt.Errorf("the user's batch job could not be built: %w", err)
		}
		return j, nil
	}
	cfg := batchloader.Config{
		Brokers: boot, Topic: silentTopic, Name: silentJobName, Group: silentGroup,
		S3Endpoint: st.Endpoint(), S3AccessKey: st.AccessKey(), S3SecretKey: st.SecretKey(), Bucket: st.Bucket(),
		Prefix:     prefix,
		Assignment: cut.Assignment,
		RunTimeout: silentRunTimeout,
		Logf:       func(format string, args ...any) { r.History.Note(silentJobName, fmt.Sprintf(format, args...)) },
		KgoOpts:    env.ClientOpts(boot),
	}
	var j *batchloader.Job
	var err error
	if r.Variant == harness.Buggy {
		j, err = batchloader.NewBuggy(cfg)
	} else {
		j, err = batchloader.New(cfg)
	}
	if err != nil {
		return nil, err
	}
	return &ourJob{Job: j}, nil
}

// silentRunTimeout bounds one run of the job.
const silentRunTimeout = 5 * time.Second

// ourJob is our batch loader in the Job role; its last report is kept for
// the narrative, never for the verdict.
type ourJob struct {
	*batchloader.Job
	last batchloader.Report
}

func (j *ourJob) RunOnce(ctx context.Context) error {
	var err error
	j.last, err = j.Job.RunOnce(ctx)
	return err
}

// jobMetrics is a job's own registry, if it has one (ours does): sampled
// for the report, never judged.
func jobMetrics(j connectors.Job) (prometheus.Gatherer, bool) {
	if m, ok := j.(interface{ Metrics() *prometheus.Registry }); ok {
		return m.Metrics(), true
	}
	return prometheus.NewRegistry(), false
}

// silentRunner runs the job every silentInterval, numbers its runs and
// keeps how each ended.
type silentRunner struct {
	r   *harness.Run
	job connectors.Job
	cut *nemesis.AssignmentCut

	mu      sync.Mutex
	reports []silentReport

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// silentReport is one run as the harness saw it: its number (the harness
// counts), when it returned and whether it reported success.
type silentReport struct {
	Run     int
	Success bool
	At      time.Time
}

func (s *silentRunner) start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(silentInterval)
		defer t.Stop()
		for {
			s.once(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (s *silentRunner) stop() {
	s.cancel()
	s.wg.Wait()
}

// once runs the job and narrates the runs around the rebalance.
func (s *silentRunner) once(ctx context.Context) {
	n := s.completed() + 1
	rctx, cancel := context.WithTimeout(ctx, silentRunTimeout)
	err := s.job.RunOnce(rctx)
	cancel()
	if ctx.Err() != nil && err != nil {
		return // stopped mid-run: not a run of the job's schedule
	}
	s.mu.Lock()
	s.reports = append(s.reports, silentReport{Run: n, Success: err == nil, At: time.Now()})
	s.mu.Unlock()
	s.cut.RunFinished(n)
	cutRun := s.cut.CutRun()
	ours, isOurs := s.job.(*ourJob)
	if !isOurs {
		line := fmt.Sprintf("run %d: success", n)
		if err != nil {
			line = fmt.Sprintf("run %d: failed: %v", n, err)
		}
		s.r.History.Note(silentJobName, line)
		if n == cutRun {
			line += fmt.Sprintf(" — the rebalance took partition %d from this run", s.cut.Partition)
		}
		if n == 1 || (cutRun > 0 && n <= cutRun+2) || err != nil {
			s.r.Logf("the job's %s", line)
		}
		return
	}
	rep := ours.last
	s.r.History.Note(silentJobName, rep.String())
	switch {
	case n == cutRun:
		s.r.Logf("%s — partition %d was not assigned to it; it rewrote the bookmark file for partitions %v only",
			rep, s.cut.Partition, silentSorted(rep.Bookmarks))
	case len(rep.Reconciled) > 0:
		s.r.Logf("%s — partitions %v had no bookmark: resumed from group %s's committed offsets", rep, rep.Reconciled, silentGroup)
	case n == 1 || (cutRun > 0 && n <= cutRun+2) || !rep.Success:
		s.r.Logf("%s", rep)
	}
}

func (s *silentRunner) completed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reports)
}

// succeeded counts the runs that reported success after since.
func (s *silentRunner) succeeded(since time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, rep := range s.reports {
		if rep.Success && rep.At.After(since) {
			n++
		}
	}
	return n
}

func silentSorted(m map[int32]int64) []int32 {
	var ps []int32
	for p := range m {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}
