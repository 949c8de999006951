package scenarios

// The batch job under test in silent-stop: the variant's batch loader, run
// on a schedule, its reports kept for the narrative.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pipechaos/pipechaos/connectors/batchloader"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/nemesis"
)

// silentJob is the variant's batch loader, owning what the rebalance leaves it.
func silentJob(r *harness.Run, cut *nemesis.AssignmentCut) (*batchloader.Job, error) {
	boot := r.Env.Region(env.Primary).Bootstrap()
	st := r.Env.Store()
	cfg := batchloader.Config{
		Brokers: boot, Topic: silentTopic, Name: silentJobName, Group: silentGroup,
		S3Endpoint: st.Endpoint(), S3AccessKey: st.AccessKey(), S3SecretKey: st.SecretKey(), Bucket: st.Bucket(),
		Assignment: cut.Assignment,
		RunTimeout: 5 * time.Second,
		Logf:       func(format string, args ...any) { r.History.Note(silentJobName, fmt.Sprintf(format, args...)) },
		KgoOpts:    env.ClientOpts(boot),
	}
	if r.Variant == harness.Buggy {
		return batchloader.NewBuggy(cfg)
	}
	return batchloader.New(cfg)
}

// silentRunner runs the job every silentInterval and keeps its reports.
type silentRunner struct {
	r   *harness.Run
	job *batchloader.Job
	cut *nemesis.AssignmentCut

	mu      sync.Mutex
	reports []silentReport

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type silentReport struct {
	batchloader.Report
	At time.Time
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
	rep, _ := s.job.RunOnce(ctx)
	if ctx.Err() != nil && !rep.Success {
		return // stopped mid-run: not a run of the job's schedule
	}
	at := time.Now()
	s.mu.Lock()
	s.reports = append(s.reports, silentReport{rep, at})
	s.mu.Unlock()
	s.cut.RunFinished(rep.Run)
	s.r.History.Note(silentJobName, rep.String())
	cutRun := s.cut.CutRun()
	switch {
	case rep.Run == cutRun:
		s.r.Logf("%s — partition %d was not assigned to it; it rewrote the bookmark file for partitions %v only",
			rep, s.cut.Partition, silentSorted(rep.Bookmarks))
	case len(rep.Reconciled) > 0:
		s.r.Logf("%s — partitions %v had no bookmark: resumed from group %s's committed offsets", rep, rep.Reconciled, silentGroup)
	case rep.Run == 1 || (cutRun > 0 && rep.Run <= cutRun+2) || !rep.Success:
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
