package explore

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"time"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
)

// Options configure an exploration.
type Options struct {
	Config
	// Seed derives every run's schedule. Default 1.
	Seed int64
	// Runs is the budget of runs; Time the budget of wall-clock time. The
	// exploration stops at whichever comes first. Defaults: 50 runs, no time
	// limit (with Time alone, no run limit).
	Runs int
	Time time.Duration
	// Workload of every run. Default DefaultWorkload.
	Workload Workload
	// Kinds restricts the faults drawn to these (default: every supported).
	Kinds []Kind
	// KeepGoing explores the whole budget after a failure; by default the
	// exploration stops at the first Illegal run and shrinks it.
	KeepGoing bool
	// NoShrink reports failures as found.
	NoShrink bool
	// ShrinkRuns bounds the runs one shrink may make. Default 40.
	ShrinkRuns int
	// Dir, if set, receives one regression file per finding.
	Dir string
	// Progress is called after every run (index from 0).
	Progress func(i int, r Result)
}

// Finding is one Illegal run and its minimal schedule.
type Finding struct {
	Run        int           `json:"run"` // index among the runs
	FoundAfter time.Duration `json:"found_after_ns"`
	Original   Result        `json:"original"`
	Minimal    Result        `json:"minimal"`
	Narrative  string        `json:"narrative"`
	// ShrinkLog lists each accepted reduction.
	ShrinkLog  []string `json:"shrink_log"`
	ShrinkRuns int      `json:"shrink_runs"`
	// Confirmed is how many of Confirmations replays of the minimal
	// schedule ended with the same consequence class; a finding confirmed
	// less than twice in three is Flaky, and the exploration goes on.
	Confirmed     int    `json:"confirmed"`
	Confirmations int    `json:"confirmations"`
	Flaky         bool   `json:"flaky"`
	File          string `json:"file,omitempty"`
}

// confirmations is how many replays confirm a finding.
const confirmations = 3

// Report is what an exploration did.
type Report struct {
	Sink        string          `json:"sink"`
	Backend     string          `json:"backend"`
	Seed        int64           `json:"seed"`
	Started     time.Time       `json:"started"`
	Elapsed     time.Duration   `json:"elapsed_ns"`
	Supported   []Kind          `json:"supported"`
	Unsupported map[Kind]string `json:"unsupported,omitempty"`
	Runs        []Result        `json:"runs"`
	Ok          int             `json:"ok"`
	Illegal     int             `json:"illegal"`
	Unknown     int             `json:"unknown"`
	Errors      int             `json:"errors"`
	Coverage    *Coverage       `json:"coverage"`
	Findings    []Finding       `json:"findings,omitempty"`
}

// Explore runs schedules drawn from o.Seed until the budget is spent (or
// the first Illegal run, unless KeepGoing), shrinks each failure and, with
// Dir, writes its regression file.
func Explore(ctx context.Context, o Options) (*Report, error) {
	cfg, err := o.Config.withDefaults()
	if err != nil {
		return nil, err
	}
	o.Config = cfg
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Runs == 0 && o.Time == 0 {
		o.Runs = 50
	}
	if o.Workload == (Workload{}) {
		o.Workload = DefaultWorkload
	}
	if err := o.Workload.validate(); err != nil {
		return nil, err
	}
	if o.ShrinkRuns == 0 {
		o.ShrinkRuns = 40
	}
	supported, unsupported, nodes, err := probe(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if len(o.Kinds) > 0 {
		var keep []Kind
		for _, k := range o.Kinds {
			if _, ok := kinds[k]; !ok {
				return nil, fmt.Errorf("unknown fault %q: use one of %v", k, kindNames())
			}
			if why, no := unsupported[k]; no {
				return nil, fmt.Errorf("fault %s: %s", k, why)
			}
			keep = append(keep, k)
		}
		supported = keep
	}
	rep := &Report{Sink: cfg.SinkName, Backend: cfg.Backend, Seed: o.Seed, Started: time.Now(),
		Supported: supported, Unsupported: unsupported, Coverage: newCoverage(supported)}
	var deadline time.Time
	if o.Time > 0 {
		deadline = rep.Started.Add(o.Time)
	}
	seeds := rand.New(rand.NewSource(o.Seed))
	for i := 0; o.Runs == 0 || i < o.Runs; i++ {
		if ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
			break
		}
		s := Generate(seeds.Int63n(1<<53), supported, o.Workload, nodes)
		r := Run(ctx, cfg, s)
		if ctx.Err() != nil {
			break
		}
		rep.add(r)
		if o.Progress != nil {
			o.Progress(i, r)
		}
		if r.Verdict != checker.Illegal {
			continue
		}
		f := Finding{Run: i, FoundAfter: time.Since(rep.Started), Original: r, Minimal: r}
		if !o.NoShrink {
			f.Minimal, f.ShrinkLog, f.ShrinkRuns = Shrink(ctx, cfg, r, o.ShrinkRuns)
		}
		f.Narrative = Narrative(f.Minimal)
		f.Confirmations = confirmations
		for range confirmations {
			if ctx.Err() != nil {
				break
			}
			if c := Run(ctx, cfg, f.Minimal.Schedule); c.Verdict == checker.Illegal && c.Has(f.Minimal.Class) {
				f.Confirmed++
			}
		}
		f.Flaky = f.Confirmed*3 < confirmations*2
		if o.Dir != "" {
			path, err := WriteRegression(o.Dir, NewRegression(cfg, f.Minimal))
			if err != nil {
				return rep, err
			}
			f.File = path
		}
		rep.Findings = append(rep.Findings, f)
		if !o.KeepGoing && !f.Flaky {
			break
		}
	}
	rep.Elapsed = time.Since(rep.Started)
	return rep, nil
}

// FirstReliable is the first finding that its confirmations did not call
// flaky, or nil.
func (rep *Report) FirstReliable() *Finding {
	for i := range rep.Findings {
		if !rep.Findings[i].Flaky {
			return &rep.Findings[i]
		}
	}
	return nil
}

func (rep *Report) add(r Result) {
	rep.Runs = append(rep.Runs, r)
	switch {
	case r.Error != "":
		rep.Errors++
	case r.Verdict == checker.Ok:
		rep.Ok++
	case r.Verdict == checker.Illegal:
		rep.Illegal++
	default:
		rep.Unknown++
	}
	rep.Coverage.add(r)
}

// probe opens one environment to learn which faults it and the SUT
// support, and the primary region's brokers.
func probe(ctx context.Context, cfg Config) ([]Kind, map[Kind]string, []int32, error) {
	e, closeEnv, err := cfg.Open(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open the environment: %w", err)
	}
	defer func() { _ = closeEnv() }()
	sut, err := cfg.Sink(connectors.Addresses{}, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	defer func() { _ = sut.Close() }()
	ok, not := Supported(e, sut)
	if len(ok) == 0 {
		return nil, nil, nil, errors.New("explore: the backend and the sink support no fault")
	}
	return ok, not, e.Region(env.Primary).Brokers(), nil
}

// Shrink delta-debugs a failing run: it drops steps, shortens holds and
// delays, and halves records and partitions, keeping each change only if
// the run still ends Illegal with the same consequence class. budget bounds
// the runs it makes. It returns the smallest failing run it found, the
// reductions it accepted, and the runs it made.
func Shrink(ctx context.Context, cfg Config, failing Result, budget int) (Result, []string, int) {
	target := failing.Class
	best := failing
	var log []string
	runs := 0
	// A change is kept only if the smaller schedule fails with the same
	// class twice in a row: a reduction that fails once in ten would give a
	// minimal schedule nobody can replay.
	try := func(s Schedule, what string) bool {
		var first Result
		for i := range 2 {
			if runs >= budget || ctx.Err() != nil {
				return false
			}
			runs++
			r := Run(ctx, cfg, s)
			if r.Verdict != checker.Illegal || !r.Has(target) {
				return false
			}
			if i == 0 {
				first = r
			}
		}
		best = first
		log = append(log, fmt.Sprintf("%s: still %s (%s)", what, target, first.Why))
		return true
	}
	cur := func() Schedule { return best.Schedule.clone() }

	// Steps that never fired changed nothing: drop them all at once.
	if s := cur(); len(s.Steps) > 1 {
		var kept []Step
		for i, st := range s.Steps {
			if i < len(best.Steps) && best.Steps[i].Fired {
				kept = append(kept, st)
			}
		}
		if len(kept) > 0 && len(kept) < len(s.Steps) {
			s.Steps = kept
			try(s, fmt.Sprintf("dropped %d steps that never fired", len(cur().Steps)-len(kept)))
		}
	}
	// One step at a time, until no single step can go.
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(best.Schedule.Steps) && len(best.Schedule.Steps) > 1; i++ {
			s := cur()
			gone := s.Steps[i]
			s.Steps = append(s.Steps[:i:i], s.Steps[i+1:]...)
			if try(s, "dropped step "+gone.String()) {
				changed = true
				i--
			}
		}
	}
	// Shorter faults and no delays.
	for i := range best.Schedule.Steps {
		for best.Schedule.Steps[i].HoldMS >= 20 {
			s := cur()
			s.Steps[i].HoldMS = s.Steps[i].HoldMS / 2 / 10 * 10
			if !try(s, fmt.Sprintf("step %d held %d ms instead of %d", i+1, s.Steps[i].HoldMS, best.Schedule.Steps[i].HoldMS)) {
				break
			}
		}
		if best.Schedule.Steps[i].Trigger.DelayMS > 0 {
			s := cur()
			s.Steps[i].Trigger.DelayMS = 0
			try(s, fmt.Sprintf("step %d without its delay", i+1))
		}
	}
	// Less data.
	for best.Schedule.Workload.Records >= 200 {
		s := cur()
		s.Workload.Records /= 2
		for j := range s.Steps {
			s.Steps[j].Trigger.AfterAcks /= 2
		}
		if !try(s, fmt.Sprintf("%d records instead of %d", s.Workload.Records, best.Schedule.Workload.Records)) {
			break
		}
	}
	for best.Schedule.Workload.Partitions > 1 {
		s := cur()
		s.Workload.Partitions /= 2
		if !try(s, fmt.Sprintf("%d partitions instead of %d", s.Workload.Partitions, best.Schedule.Workload.Partitions)) {
			break
		}
	}
	// Only the kinds the steps use stay switched on.
	s := best.Schedule
	s.Enabled = nil
	seen := map[Kind]bool{}
	for _, st := range s.Steps {
		if !seen[st.Fault] {
			seen[st.Fault] = true
			s.Enabled = append(s.Enabled, st.Fault)
		}
	}
	best.Schedule = s
	return best, log, runs
}
