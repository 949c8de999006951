package explore

import (
	"time"

	"github.com/pipechaos/pipechaos/harness/checker"
)

// Opt adjusts Options (for scenarios.Explore).
type Opt func(*Options)

// Runs sets the budget of runs.
func Runs(n int) Opt { return func(o *Options) { o.Runs = n } }

// Time sets the budget of time.
func Time(d time.Duration) Opt { return func(o *Options) { o.Time = d } }

// Seed sets the seed every schedule derives from.
func Seed(s int64) Opt { return func(o *Options) { o.Seed = s } }

// WithWorkload sets the workload of every run.
func WithWorkload(w Workload) Opt { return func(o *Options) { o.Workload = w } }

// Faults restricts the faults drawn.
func Faults(ks ...Kind) Opt { return func(o *Options) { o.Kinds = append([]Kind(nil), ks...) } }

// ShrinkBudget bounds the runs one shrink makes.
func ShrinkBudget(n int) Opt { return func(o *Options) { o.ShrinkRuns = n } }

// CheckerOpts tunes the verdict (e.g. checker.MaxDuplicates for an
// at-least-once sink).
func CheckerOpts(opts ...checker.Option) Opt {
	return func(o *Options) { o.CheckerOpts = append(o.CheckerOpts, opts...) }
}

// KeepGoing explores the whole budget after a failure.
func KeepGoing() Opt { return func(o *Options) { o.KeepGoing = true } }

// Dir writes regression files into dir.
func Dir(dir string) Opt { return func(o *Options) { o.Dir = dir } }

// Liveness sets how long the group may take to drain once every fault
// healed (default 10s; a loaded CI machine may want more).
func Liveness(d time.Duration) Opt { return func(o *Options) { o.Config.Liveness = d } }
