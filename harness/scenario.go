package harness

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
)

// Variant selects which implementation of the system under test a scenario
// runs: the fixed connector or the buggy one carrying the incident's defect.
type Variant string

const (
	Fixed Variant = "fixed"
	Buggy Variant = "buggy"
)

// ParseVariant accepts "fixed" or "buggy".
func ParseVariant(s string) (Variant, error) {
	switch Variant(s) {
	case Fixed, Buggy:
		return Variant(s), nil
	}
	return "", fmt.Errorf("unknown variant %q: use %q or %q", s, Fixed, Buggy)
}

// BugPrefix starts every failure message: a failed check on a run is a
// reproduced bug, whichever variant ran.
const BugPrefix = "BUG REPRODUCED: "

// Scenario is one incident made reproducible.
type Scenario struct {
	// Name is the catalogue key, e.g. "null-headers".
	Name string
	// Incident is the section of docs/incidents.md it reproduces (0: none).
	Incident int
	// Consequence is the harm the incident's buggy variant must show: a
	// buggy run counts as a reproduction only if one of its findings is of
	// this class. Required when the scenario has a buggy variant.
	Consequence Consequence
	// Title is the one-line story.
	Title string
	// Story tells the incident: symptom, root cause, fix.
	Story string
	// Fault is what the scenario injects.
	Fault string
	// Checks is what it asserts, for both variants.
	Checks string
	// Variants it runs; default both.
	Variants []Variant
	// Budget bounds one run; default 30s. At scale N it is N times longer.
	Budget time.Duration
	// Records is about how many records a run produces at scale 1, all
	// workloads together: what the scale limits are estimated from (see
	// CheckScale). Default DefaultRecords.
	Records int
	// Run performs the scenario. It reports what it finds from the data on
	// r (r.SetCheck, r.ViolationOf) and what it could not establish
	// (r.Inconclusive); it returns an error only when the run could not be
	// performed at all (setup failed, fault unsupported), or one wrapping
	// ErrInconclusive when it proved nothing.
	Run func(ctx context.Context, r *Run) error
}

// HasVariant reports whether s runs v.
func (s *Scenario) HasVariant(v Variant) bool {
	if len(s.Variants) == 0 {
		return true
	}
	for _, x := range s.Variants {
		if x == v {
			return true
		}
	}
	return false
}

// Run is one execution of a scenario: its inputs and what it found.
type Run struct {
	Scenario *Scenario
	Variant  Variant
	Seed     int64
	Env      env.Environment
	History  *history.History

	logf     func(format string, args ...any)
	rng      *rand.Rand
	scale    int
	progress *progress

	mu         sync.Mutex
	check      *checker.Result
	violations []string
	classes    []Consequence
	unknown    []string
	metrics    map[string]float64
}

// Rand is the run's random source, derived from its seed: every random
// choice of a scenario (schedule jitter, which broker) must come from it.
func (r *Run) Rand() *rand.Rand { return r.rng }

// Logf adds a line to the narrative and to the history as a note.
func (r *Run) Logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.History.Note("scenario", msg)
	if r.logf != nil {
		r.logf("%s", msg)
	}
}

// SetCheck records the checker's result for the store.
func (r *Run) SetCheck(res checker.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check = &res
}

// Violation records a finding of no particular class (Other); see
// ViolationOf.
func (r *Run) Violation(format string, args ...any) { r.ViolationOf(Other, format, args...) }

// ViolationOf records a consequence the scenario found in the data (a lag
// that never recovered, a budget exceeded, acked records in no region), of
// class c. It is phrased as the consequence with its numbers.
func (r *Run) ViolationOf(c Consequence, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.violations = append(r.violations, msg)
	r.classes = append(r.classes, c)
	r.mu.Unlock()
	r.Logf("violation (%s): %s", c, msg)
}

// Inconclusive records that the run cannot prove what it set out to (the
// fault never met the data, a sample was never taken). Any such reason
// makes the run's verdict Unknown, whatever else was found: a run whose
// fault never fired is neither a pass nor a catch.
func (r *Run) Inconclusive(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.unknown = append(r.unknown, msg)
	r.mu.Unlock()
	r.Logf("inconclusive: %s", msg)
}

// Assume records reason as inconclusive unless ok holds, and reports ok.
func (r *Run) Assume(ok bool, format string, args ...any) bool {
	if !ok {
		r.Inconclusive(format, args...)
	}
	return ok
}

// Metric records a number worth reporting (peak buffered bytes, rebalances).
func (r *Run) Metric(name string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.metrics == nil {
		r.metrics = map[string]float64{}
	}
	r.metrics[name] = v
}

// Outcome is what a run of a scenario came to.
type Outcome struct {
	Scenario string          `json:"scenario"`
	Variant  Variant         `json:"variant"`
	Backend  string          `json:"backend"`
	Seed     int64           `json:"seed"`
	Scale    int             `json:"scale,omitempty"`
	Started  time.Time       `json:"started"`
	Elapsed  time.Duration   `json:"elapsed_ns"`
	Check    *checker.Result `json:"check,omitempty"`
	// Verdict is Ok (every check passed), Illegal (a consequence was
	// found: Failure) or Unknown (Inconclusive says why).
	Verdict checker.Verdict `json:"verdict"`
	// Consequences are the classes of every finding, in order; Expect is
	// the one the scenario's buggy variant must show.
	Consequences []Consequence `json:"consequences,omitempty"`
	Expect       Consequence   `json:"expect,omitempty"`
	// Inconclusive lists why the run proves nothing, when Verdict is
	// Unknown.
	Inconclusive []string           `json:"inconclusive,omitempty"`
	Metrics      map[string]float64 `json:"metrics,omitempty"`
	// Violations are the scenario's own findings; the checker's are in Check.
	Violations []string `json:"violations,omitempty"`
	// Failure is empty when every check passed, else BugPrefix followed by
	// every consequence found.
	Failure string `json:"failure,omitempty"`
	// Skipped says why the run could not happen (a fault the backend
	// cannot do); Error why it broke (setup failed).
	Skipped string          `json:"skipped,omitempty"`
	Error   string          `json:"error,omitempty"`
	Events  []history.Event `json:"-"`
	// ProduceSampledEvery is 1 when Events holds every produce outcome;
	// above ReportProduceEvents outcomes it holds one in every k (each
	// standing for k), every other event whole (see History.Downsampled).
	ProduceSampledEvery int `json:"produce_sampled_every,omitempty"`
}

// ReportProduceEvents bounds the produce outcomes an Outcome carries for
// the reports: a 10M-record run keeps about this many, evenly spaced.
const ReportProduceEvents = 200_000

// Expected reports whether the outcome is what the variant should give:
// fixed passes, buggy is caught by its incident's consequence. An
// inconclusive run is never expected.
func (o Outcome) Expected() bool {
	if o.Skipped != "" || o.Error != "" || o.verdict() == checker.Unknown {
		return false
	}
	if o.Variant == Buggy {
		return o.Caught()
	}
	return o.verdict() == checker.Ok
}

// verdict is Verdict, or for an outcome recorded before verdicts were
// (no Verdict field), what its Failure says.
func (o Outcome) verdict() checker.Verdict {
	switch {
	case o.Verdict != "":
		return o.Verdict
	case o.Failure != "":
		return checker.Illegal
	}
	return checker.Ok
}

// Caught reports whether the run found the consequence its scenario
// expects of the buggy variant (any, if the scenario declares none).
func (o Outcome) Caught() bool {
	if o.verdict() != checker.Illegal {
		return false
	}
	if o.Expect == "" {
		return true
	}
	for _, c := range o.Consequences {
		if c == o.Expect {
			return true
		}
	}
	return false
}

// Replay is the command that reruns this outcome with the same seed.
func (o Outcome) Replay() string {
	cmd := fmt.Sprintf("PIPECHAOS_SEED=%d pipechaos run %s --variant %s --backend %s", o.Seed, o.Scenario, o.Variant, o.Backend)
	if o.Scale > 1 {
		cmd += fmt.Sprintf(" --scale %d", o.Scale)
	}
	return cmd
}

// Seed returns the seed for a scenario: $PIPECHAOS_SEED if set, else a
// stable value derived from the scenario's name, so CI runs are
// reproducible and a failure's seed replays it.
func Seed(name string) (int64, error) {
	if s := os.Getenv("PIPECHAOS_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("PIPECHAOS_SEED=%q is not an integer: set it to the seed a failure printed", s)
		}
		return n, nil
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64() & (1<<53 - 1)), nil
}

// Execute runs scenario s in variant v on e with seed and returns its
// outcome. logf receives the narrative.
func Execute(ctx context.Context, s *Scenario, v Variant, e env.Environment, seed int64, logf func(string, ...any)) Outcome {
	budget := s.Budget
	if budget == 0 {
		budget = 30 * time.Second
	}
	// A backend whose Kafka reacts in seconds rather than milliseconds
	// (real brokers: fencing, elections, replication) stretches the budget.
	if bs, ok := e.(interface{ BudgetScale() float64 }); ok && bs.BudgetScale() > 1 {
		budget = time.Duration(float64(budget) * bs.BudgetScale())
	}
	r := &Run{
		Scenario: s, Variant: v, Seed: seed, Env: e,
		History: history.New(), logf: logf, rng: rand.New(rand.NewSource(seed)),
	}
	out := Outcome{Scenario: s.Name, Variant: v, Backend: e.Backend(), Seed: seed, Started: r.History.Start()}
	out.Expect = s.Consequence
	scale, err := ScaleFromEnv()
	if err == nil {
		err = Preflight(s, e.Backend(), deadlineOf(ctx))
	}
	if err != nil {
		out.Error = err.Error()
		return out
	}
	r.scale, out.Scale = scale, scale
	r.History.SetScale(scale)
	ctx, cancel := context.WithTimeout(ctx, budget*time.Duration(scale))
	defer cancel()
	if scale > 1 {
		r.Logf("scenario %s (%s connector) on the %s backend, seed %d, at scale %d (records, rates and record-count triggers ×%d)", s.Name, v, e.Backend(), seed, scale, scale)
	} else {
		r.Logf("scenario %s (%s connector) on the %s backend, seed %d", s.Name, v, e.Backend(), seed)
	}
	if st := e.Store(); st != nil {
		stop, ok := observeStoreWrites(st, r.History)
		defer stop()
		if !ok {
			r.Logf("the %s backend's store cannot be observed: no sink write is recorded", e.Backend())
		}
	}
	r.progress = startProgress(r.History, EstimateScale(s, scale, e.Backend()).Records, scale, r.logf)
	err = s.Run(ctx, r)
	r.progress.Stop()
	out.Elapsed = time.Since(out.Started)
	out.Events, out.ProduceSampledEvery = r.History.Downsampled(ReportProduceEvents)
	r.mu.Lock()
	out.Check, out.Violations, out.Metrics = r.check, r.violations, r.metrics
	classes, unknown := r.classes, r.unknown
	r.mu.Unlock()
	switch {
	case errors.Is(err, env.ErrUnsupported):
		out.Skipped = err.Error()
		return out
	case errors.Is(err, ErrInconclusive):
		unknown = append(unknown, strings.TrimPrefix(err.Error(), ErrInconclusive.Error()+": "))
	case err != nil:
		out.Error = err.Error()
		return out
	}
	var found []string
	if out.Check != nil {
		f, c := consequences(*out.Check)
		found, out.Consequences = append(found, f...), append(out.Consequences, c...)
	} else {
		found = append(found, "the scenario never checked the store")
		out.Consequences = append(out.Consequences, Other)
	}
	found = append(found, out.Violations...)
	out.Consequences = append(out.Consequences, classes...)
	switch {
	case len(unknown) > 0:
		// The assumptions come first: a run that proves nothing is
		// neither a pass nor a catch, whatever else it found.
		out.Verdict, out.Inconclusive = checker.Unknown, unknown
	case len(found) > 0:
		out.Verdict, out.Failure = checker.Illegal, BugPrefix+strings.Join(found, "; ")
	case out.Check != nil && out.Check.Verdict == checker.Unknown:
		out.Verdict = checker.Unknown
		out.Inconclusive = []string{"the store check is unknown: " + out.Check.Summary()}
		for _, v := range out.Check.Violations {
			if v.Kind == checker.Incomplete {
				out.Inconclusive = append(out.Inconclusive, v.Detail)
			}
		}
	default:
		out.Verdict = checker.Ok
	}
	return out
}

// Preflight refuses, before anything starts, a run of s at the scale
// $PIPECHAOS_SCALE asks for that this machine cannot hold (see CheckScale).
// backend "" reads $PIPECHAOS_BACKEND (default embedded); deadline is the
// caller's (a test's), zero for none.
func Preflight(s *Scenario, backend string, deadline time.Time) error {
	scale, err := ScaleFromEnv()
	if err != nil || scale <= 1 {
		return err
	}
	if backend == "" {
		backend = os.Getenv("PIPECHAOS_BACKEND")
	}
	if backend == "" {
		backend = env.Embedded
	}
	lim, err := MachineLimits("", deadline)
	if err != nil {
		return err
	}
	return CheckScale(s, scale, backend, lim)
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// consequences phrases a checker result's violations as what happened,
// with the class of each.
func consequences(res checker.Result) ([]string, []Consequence) {
	var out []string
	var classes []Consequence
	vs := append([]checker.Violation(nil), res.Violations...)
	sort.SliceStable(vs, func(i, j int) bool { return kindRank(vs[i].Kind) < kindRank(vs[j].Kind) })
	for _, v := range vs {
		if v.Allowed || v.Kind == checker.Incomplete {
			continue
		}
		if res.Verdict == checker.Unknown && (v.Kind == checker.Lost || v.Kind == checker.Empty) {
			continue // a store read incompletely proves no loss
		}
		classes = append(classes, consequenceOf(v.Kind))
		switch v.Kind {
		case checker.Lost:
			out = append(out, fmt.Sprintf("%d acked records never reached the bucket (first IDs %v)", v.Count, v.First))
		case checker.Duplicated:
			out = append(out, fmt.Sprintf("%d duplicate copies of records in the bucket (first IDs %v)", v.Count, v.First))
		case checker.Unexpected:
			out = append(out, fmt.Sprintf("%d records in the bucket were never produced (first IDs %v)", v.Count, v.First))
		case checker.Reordered:
			out = append(out, fmt.Sprintf("%d records out of order for their key", v.Count))
		case checker.Corrupt:
			out = append(out, fmt.Sprintf("%d objects in the bucket cannot be decoded: %s", v.Count, v.Detail))
		case checker.Empty:
			out = append(out, "the bucket holds no records at all: "+v.Detail)
		default:
			out = append(out, fmt.Sprintf("%s: %d %s", v.Kind, v.Count, v.Detail))
		}
	}
	return out, classes
}

func kindRank(k string) int {
	for i, x := range []string{checker.Empty, checker.Lost, checker.Corrupt, checker.Unexpected, checker.Duplicated, checker.Reordered} {
		if x == k {
			return i
		}
	}
	return 99
}
