package nemesis

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/pipechaos/pipechaos/harness/env"
)

// AssignmentCut is a rebalance as a batch job sees it: while active, the
// next run of the job to ask for its assignment is not given Partition —
// as when a rebalance moved it to a member that then died. It hits exactly
// one run. The job takes it through its assignment hook (Assignment), and
// tells it when each run finishes (RunFinished).
type AssignmentCut struct {
	Topic     string
	Partition int32

	armed    atomic.Bool
	cutRun   atomic.Int64 // the run that lost the partition
	finished atomic.Int64 // runs finished so far
}

func (c *AssignmentCut) Name() string   { return "rebalance" }
func (c *AssignmentCut) Target() string { return fmt.Sprintf("%s/partition-%d", c.Topic, c.Partition) }
func (c *AssignmentCut) Describe() string {
	return fmt.Sprintf("a consumer-group rebalance takes partition %d away from the next run of the batch job", c.Partition)
}

func (c *AssignmentCut) Start(context.Context, env.Environment) error {
	c.armed.Store(true)
	return nil
}

func (c *AssignmentCut) Heal(context.Context, env.Environment) error {
	c.armed.Store(false)
	return nil
}

// Assignment is the job's assignment hook: the partitions a run may read.
func (c *AssignmentCut) Assignment(ps []int32) []int32 {
	if !c.armed.CompareAndSwap(true, false) {
		return ps
	}
	c.cutRun.Store(c.finished.Load() + 1)
	return slices.DeleteFunc(ps, func(p int32) bool { return p == c.Partition })
}

// RunFinished records that run n of the job has finished.
func (c *AssignmentCut) RunFinished(n int) { c.finished.Store(int64(n)) }

// CutRun is the run that lost the partition (0: none yet).
func (c *AssignmentCut) CutRun() int { return int(c.cutRun.Load()) }

// Done reports whether the run that lost the partition has finished.
func (c *AssignmentCut) Done() bool {
	n := c.cutRun.Load()
	return n > 0 && c.finished.Load() >= n
}
