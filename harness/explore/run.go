package explore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/workload"
)

// Class is the consequence class of an Illegal run.
type Class string

const (
	ClassLost       Class = "lost"
	ClassDuplicated Class = "duplicated"
	ClassReordered  Class = "reordered"
	ClassUnexpected Class = "unexpected"
	ClassCorrupt    Class = "corrupt"
	ClassStale      Class = "stale"
	ClassNotDrained Class = "not drained"
)

// classOrder ranks classes: a run's Class is the first of its Classes.
var classOrder = []Class{ClassLost, ClassDuplicated, ClassReordered, ClassUnexpected, ClassCorrupt, ClassStale, ClassNotDrained}

// Config is how runs are made.
type Config struct {
	// Sink is the system under test. Required.
	Sink SUTFactory
	// SinkName names it in reports and regression files.
	SinkName string
	// Open opens the environment of one run; default: a fresh embedded
	// environment per run (OpenEmbedded).
	Open func(ctx context.Context) (env.Environment, func() error, error)
	// Backend names the backend Open opens, for reports. Default embedded.
	Backend string
	// CheckerOpts tune the verdict (e.g. checker.MaxDuplicates for an
	// at-least-once sink). Default: exactly once, in order.
	CheckerOpts []checker.Option
	// Settle is how long, after the workload ended, steps may still wait
	// for their trigger before the safety phase ends. Default 3s.
	Settle time.Duration
	// Liveness is how long the group may take to drain once every fault
	// healed. Default 10s.
	Liveness time.Duration
	// Logf receives one line per run (its verdict). Default: discarded.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() (Config, error) {
	if c.Sink == nil {
		return c, errors.New("explore: no sink: set Config.Sink (InProcess(factory) or a process-backed SUT)")
	}
	if c.SinkName == "" {
		c.SinkName = "custom"
	}
	if c.Open == nil {
		c.Open = OpenEmbedded
		c.Backend = env.Embedded
	}
	if c.Backend == "" {
		c.Backend = env.Embedded
	}
	if c.Settle == 0 {
		c.Settle = 3 * time.Second
	}
	if c.Liveness == 0 {
		c.Liveness = 10 * time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c, nil
}

// OpenEmbedded starts a fresh embedded environment (one broker set per
// region, the registry, the store) in a temporary directory.
func OpenEmbedded(context.Context) (env.Environment, func() error, error) {
	cfg, err := env.NewConfig(env.Backend(env.Embedded))
	if err != nil {
		return nil, nil, err
	}
	e, err := embedded.Start(cfg)
	if err != nil {
		return nil, nil, err
	}
	return e, e.Close, nil
}

// Fired is what became of one step in a run.
type Fired struct {
	Index int  `json:"index"`
	Step  Step `json:"step"`
	Fired bool `json:"fired"`
	// At and Healed are offsets from the start of the run.
	At     time.Duration `json:"at_ns,omitempty"`
	Healed time.Duration `json:"healed_ns,omitempty"`
	// Phases are the phases active when the fault started.
	Phases []Phase `json:"phases,omitempty"`
	Acked  int     `json:"acked,omitempty"`
	Lag    int64   `json:"lag,omitempty"`
	// Producing: the workload was still producing when it started.
	Producing bool `json:"producing,omitempty"`
	// Put is the PUT the fault landed on (see phase.put), and how long
	// before the fault it began or returned.
	PutKey      string `json:"put_key,omitempty"`
	PutReturned bool   `json:"put_returned,omitempty"`
	PutAgoMS    int    `json:"put_ago_ms,omitempty"`
	// Met says whether the fault met the data, and how.
	Met    bool   `json:"met"`
	MetWhy string `json:"met_why,omitempty"`
	Err    string `json:"error,omitempty"`

	// noLeader: a broker fault on a broker that led no partition of the
	// topic; it cannot have met the data.
	noLeader bool
}

// Result is one run.
type Result struct {
	Schedule Schedule        `json:"schedule"`
	Verdict  checker.Verdict `json:"verdict"`
	Class    Class           `json:"class,omitempty"`
	Classes  []Class         `json:"classes,omitempty"`
	// Why says why the verdict is Unknown, or what the consequence was.
	Why     string          `json:"why,omitempty"`
	Check   *checker.Result `json:"check,omitempty"`
	Steps   []Fired         `json:"steps"`
	Drained bool            `json:"drained"`
	LagLeft int64           `json:"lag_left,omitempty"`
	Deaths  int             `json:"deaths"`
	Puts    int             `json:"puts"`
	Commits int             `json:"commits"`
	Elapsed time.Duration   `json:"elapsed_ns"`
	// Timeline is what the observer saw, for the report.
	Timeline Timeline `json:"timeline"`
	// Error is set when the run could not be performed (setup failed).
	Error  string          `json:"error,omitempty"`
	Events []history.Event `json:"-"`
	Start  time.Time       `json:"start"`
}

// Has reports whether the run ended Illegal with class c among its
// consequences.
func (r Result) Has(c Class) bool {
	for _, x := range r.Classes {
		if x == c {
			return true
		}
	}
	return false
}

const (
	runTopic = "explore"
	runGroup = "explore-sink"
)

// runCtx is what faults act on during a run.
type runCtx struct {
	env env.Environment
	sut SUT
	obs *observer
	h   *history.History
}

// Run performs one schedule and judges it.
func Run(ctx context.Context, cfg Config, s Schedule) Result {
	cfg, err := cfg.withDefaults()
	res := Result{Schedule: s, Verdict: checker.Unknown}
	if err == nil {
		err = s.Validate()
	}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	start := time.Now()
	e, closeEnv, err := cfg.Open(ctx)
	if err != nil {
		res.Error = fmt.Sprintf("open the environment: %v", err)
		return res
	}
	defer func() { _ = closeEnv() }()
	res = runIn(ctx, cfg, e, s)
	res.Elapsed = time.Since(start)
	return res
}

func runIn(ctx context.Context, cfg Config, e env.Environment, s Schedule) (res Result) {
	res = Result{Schedule: s, Verdict: checker.Unknown}
	fail := func(format string, args ...any) Result {
		res.Error = fmt.Sprintf(format, args...)
		res.Verdict = checker.Unknown
		return res
	}
	h := history.New()
	res.Start = h.Start()
	primary := e.Region(env.Primary)
	if err := primary.CreateTopic(ctx, runTopic, s.Workload.Partitions); err != nil {
		return fail("%v", err)
	}
	obs := newObserver(h, runTopic, runGroup)
	tp, err := startTap(obs, e.Store().Endpoint(), e.Store().Bucket())
	if err != nil {
		return fail("%v", err)
	}
	defer tp.close()
	admCl, err := primary.Client()
	if err != nil {
		return fail("%v", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	pollCtx, stopPoll := context.WithCancel(ctx)
	var pollWG sync.WaitGroup
	pollWG.Add(1)
	go func() { defer pollWG.Done(); obs.poll(pollCtx, adm) }()
	defer func() { stopPoll(); pollWG.Wait() }()

	st := e.Store()
	sut, err := cfg.Sink(connectors.Addresses{
		Brokers: primary.Bootstrap(), Topic: runTopic, Group: runGroup, RegistryURL: e.Registry().URL(),
		S3Endpoint: tp.addr(), S3AccessKey: st.AccessKey(), S3SecretKey: st.SecretKey(), Bucket: st.Bucket(),
	}, func(format string, args ...any) { h.Note("sut", fmt.Sprintf(format, args...)) })
	if err != nil {
		return fail("%v", err)
	}
	sutClosed := false
	closeSUT := func() {
		if !sutClosed {
			sutClosed = true
			if err := sut.Close(); err != nil {
				h.Note("sut", "close: "+err.Error())
			}
		}
	}
	defer closeSUT()
	if err := sut.Start(ctx); err != nil {
		return fail("start the sink: %v", err)
	}

	prodCl, err := primary.Client(kgo.RecordDeliveryTimeout(5*time.Second), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return fail("%v", err)
	}
	defer prodCl.Close()

	rc := &runCtx{env: e, sut: sut, obs: obs, h: h}
	stepsCtx, stopSteps := context.WithCancel(ctx)
	defer stopSteps()
	fired := make([]Fired, len(s.Steps))
	var wg sync.WaitGroup
	for i, step := range s.Steps {
		fired[i] = Fired{Index: i, Step: step}
		wg.Add(1)
		go func() {
			defer wg.Done()
			runStep(stepsCtx, rc, &fired[i], adm)
		}()
	}
	allSteps := make(chan struct{})
	go func() { wg.Wait(); close(allSteps) }()

	h.Note("explore", "schedule: "+strings.ReplaceAll(s.String(), "\n", ";"))
	stats, perr := workload.Run(ctx, workload.Config{
		Topic: runTopic, Records: s.Workload.Records, Rate: s.Workload.Rate, Seed: s.Seed,
		RegistryURL: e.Registry().URL(), History: h,
	}, workload.KafkaProducer(prodCl, env.Primary))
	obs.setProducerDone()
	h.Note("explore", "workload: "+stats.String())
	if perr != nil && ctx.Err() == nil {
		h.Note("explore", "producer: "+perr.Error())
	}
	settle := time.NewTimer(cfg.Settle)
	select {
	case <-allSteps:
	case <-settle.C:
	case <-ctx.Done():
	}
	settle.Stop()
	stopSteps() // steps still waiting never fire; held faults heal now
	<-allSteps

	// Liveness: everything healed, the sink running, the group must drain.
	if err := sut.Restart(ctx); err != nil {
		h.Note("explore", "restart the sink for the drain: "+err.Error())
	}
	h.Note("explore", "liveness: every fault healed; the group must drain")
	lctx, cancel := context.WithTimeout(ctx, cfg.Liveness)
	_, _ = obs.waitFor(lctx, func(phase) bool { ok, _, _ := obs.drained(); return ok })
	cancel()
	drained, lag, perPart := obs.drained()
	res.Drained, res.LagLeft = drained, lag
	res.Deaths = sut.Deaths()
	closeSUT()
	stopPoll()
	pollWG.Wait()
	puts, commits := obs.snapshot()
	res.Puts, res.Commits = len(puts), len(commits)
	res.Timeline = timelineOf(h, puts, commits)

	cl, err := harness.StoreClient(st)
	if err != nil {
		return fail("%v", err)
	}
	c := checker.New(checker.LedgerFrom(h.Events()), cfg.CheckerOpts...)
	if err := checker.ReadStore(ctx, cl, st.Bucket(), "topics/"+runTopic+"/", c); err != nil {
		h.Note("explore", "the store could not be read completely: "+err.Error())
	}
	chk := c.Result()
	res.Check = &chk
	res.Events = h.Events()
	for i := range fired {
		judgeMet(&fired[i], res.Events, fired)
	}
	res.Steps = fired
	judge(&res, chk, perPart)
	h.Note("explore", fmt.Sprintf("verdict %s %s: %s", res.Verdict, res.Class, res.Why))
	cfg.Logf("explore: seed %d: verdict %s %s: %s", s.Seed, res.Verdict, res.Class, res.Why)
	res.Events = h.Events()
	return res
}

// runStep waits for the step's trigger, starts the fault, holds it and
// heals it.
func runStep(ctx context.Context, rc *runCtx, f *Fired, adm *kadm.Client) {
	st := f.Step
	ph, err := rc.obs.waitFor(ctx, func(ph phase) bool {
		if ph.acked < st.Trigger.AfterAcks {
			return false
		}
		if st.Trigger.Phase == Acks {
			return ph.acked > 0
		}
		return ph.active[st.Trigger.Phase]
	})
	if err != nil {
		return // the safety phase ended first: never fired
	}
	if st.Trigger.DelayMS > 0 {
		t := time.NewTimer(time.Duration(st.Trigger.DelayMS) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		ph = rc.obs.now()
	}
	info := kinds[st.Fault]
	leads := -1
	if isBrokerFault(st.Fault) {
		leads = leaderCount(ctx, adm, st.Node)
	}
	var faultedBefore int64
	if isStoreFault(st.Fault) {
		faultedBefore = rc.env.Store().Faults().Stats().Faulted
	}
	now := time.Now()
	f.At = now.Sub(rc.h.Start())
	f.Acked, f.Lag, f.Producing = ph.acked, ph.lag, ph.producing
	for _, p := range Phases {
		if ph.active[p] {
			f.Phases = append(f.Phases, p)
		}
	}
	if ph.put != nil {
		f.PutKey = ph.put.key
		if !ph.put.ended.IsZero() {
			f.PutReturned = true
			f.PutAgoMS = int(now.Sub(ph.put.ended).Milliseconds())
		} else {
			f.PutAgoMS = int(now.Sub(ph.put.began).Milliseconds())
		}
	}
	heal, err := info.start(context.WithoutCancel(ctx), rc, st)
	if err != nil {
		f.Err = err.Error()
		rc.h.Note("explore", fmt.Sprintf("step %d (%s) could not start: %v", f.Index+1, st.Fault, err))
		return
	}
	f.Fired = true
	rc.h.FaultStarted(string(st.Fault), fmt.Sprintf("step %d", f.Index+1), describeFault(st))
	if st.HoldMS > 0 {
		t := time.NewTimer(st.hold())
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if err := heal(context.WithoutCancel(ctx)); err != nil {
		f.Err = "heal: " + err.Error()
	}
	f.Healed = time.Since(rc.h.Start())
	rc.h.FaultHealed(string(st.Fault), fmt.Sprintf("step %d", f.Index+1), "healed")
	switch {
	case isStoreFault(st.Fault):
		n := rc.env.Store().Faults().Stats().Faulted - faultedBefore
		f.Met, f.MetWhy = n > 0, fmt.Sprintf("%d store requests faulted", n)
	case isBrokerFault(st.Fault):
		if leads == 0 {
			f.MetWhy = fmt.Sprintf("broker %d led no partition of the topic", st.Node)
		} else {
			f.MetWhy = fmt.Sprintf("broker %d led %d partitions of the topic", st.Node, leads)
		}
	}
	f.noLeader = leads == 0
}

// leaderCount is how many partitions of the run's topic node leads (-1 if
// the metadata could not be read).
func leaderCount(ctx context.Context, adm *kadm.Client, node int32) int {
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	md, err := adm.Metadata(qctx, runTopic)
	if err != nil {
		return -1
	}
	n := 0
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			if p.Leader == node {
				n++
			}
		}
	}
	return n
}

// judgeMet decides, once the run is over, whether a fired fault met the
// data: store faults by the requests they faulted (set by runStep); the
// others by what was in motion while they lasted, read from the history.
func judgeMet(f *Fired, events []history.Event, all []Fired) {
	if !f.Fired {
		f.Met, f.MetWhy = false, "never fired (its trigger never held)"
		return
	}
	if isStoreFault(f.Step.Fault) {
		return
	}
	if f.noLeader {
		f.Met = false
		return
	}
	start, end := f.At, f.Healed
	produced, wrote := 0, 0
	t0 := time.Time{}
	if len(events) > 0 {
		t0 = events[0].At
	}
	for _, e := range events {
		d := e.At.Sub(t0)
		if d < start || d > end {
			continue
		}
		switch e.Type {
		case history.Produce:
			produced++
		case history.SinkWrite:
			wrote++
		}
	}
	// Offsets in At/Healed are from the history start; the first event is
	// stamped a moment later, close enough for "during".
	inMotion := f.Lag > 0 || produced > 0 || f.Producing
	switch f.Step.Fault {
	case SinkKill, SinkRestart, SinkPause:
		f.Met = f.Lag > 0 || f.PutKey != ""
		f.MetWhy = fmt.Sprintf("%d records not committed when it stopped", f.Lag)
		if f.PutKey != "" {
			f.MetWhy += "; a PUT was in flight or uncommitted"
		}
	case CommitErrors, SlowCommits:
		f.Met = wrote > 0 || f.PutKey != ""
		f.MetWhy = fmt.Sprintf("%d objects written while it lasted (each followed by a commit)", wrote)
	case ProduceErrors:
		f.Met, f.MetWhy = produced > 0, fmt.Sprintf("%d produce outcomes while it lasted", produced)
	case RegistryDown:
		restarts := 0
		for _, o := range all {
			if o.Fired && o.Index != f.Index && isSinkFault(o.Step.Fault) && o.Healed >= start && o.Healed <= end {
				restarts++
			}
		}
		f.Met = restarts > 0
		f.MetWhy = fmt.Sprintf("%d sink (re)starts while the registry was down (a running sink has its schemas cached)", restarts)
	default:
		f.Met = inMotion
		why := fmt.Sprintf("lag %d when it started, %d produce outcomes while it lasted", f.Lag, produced)
		if f.Producing {
			why = fmt.Sprintf("the workload was producing; lag %d when it started, %d produce outcomes while it lasted", f.Lag, produced)
		}
		if f.MetWhy != "" {
			why = f.MetWhy + "; " + why
		}
		f.MetWhy = why
	}
}

// judge sets the verdict, the classes and why.
func judge(res *Result, chk checker.Result, perPart map[int32]int64) {
	var classes []Class
	var why []string
	for _, v := range chk.Violations {
		if v.Allowed {
			continue
		}
		switch v.Kind {
		case checker.Lost:
			classes = append(classes, ClassLost)
			why = append(why, fmt.Sprintf("%d acked records never reached the bucket", v.Count))
		case checker.Duplicated:
			classes = append(classes, ClassDuplicated)
			why = append(why, fmt.Sprintf("%d duplicate copies of records in the bucket", v.Count))
		case checker.Reordered:
			classes = append(classes, ClassReordered)
			why = append(why, fmt.Sprintf("%d records out of produce order for their key", v.Count))
		case checker.Unexpected:
			classes = append(classes, ClassUnexpected)
			why = append(why, fmt.Sprintf("%d records in the bucket were never produced", v.Count))
		case checker.Corrupt:
			classes = append(classes, ClassCorrupt)
			why = append(why, v.Detail)
		}
	}
	if !res.Drained {
		var stuck, done []string
		for p, l := range perPart {
			if l > 0 {
				stuck = append(stuck, fmt.Sprint(p))
			} else {
				done = append(done, fmt.Sprint(p))
			}
		}
		sort.Strings(stuck)
		if len(done) > 0 && len(stuck) > 0 {
			classes = append(classes, ClassStale)
			why = append(why, fmt.Sprintf("partitions %s stayed behind (%d records uncommitted) while the others drained", strings.Join(stuck, ","), res.LagLeft))
		} else {
			classes = append(classes, ClassNotDrained)
			why = append(why, fmt.Sprintf("the group never drained: %d records uncommitted after every fault healed", res.LagLeft))
		}
	}
	sort.SliceStable(classes, func(i, j int) bool { return rank(classes[i]) < rank(classes[j]) })
	met := 0
	for _, f := range res.Steps {
		if f.Met {
			met++
		}
	}
	switch {
	case len(classes) > 0 && !(chk.Acked == 0 && onlyDrain(classes)):
		res.Verdict, res.Classes, res.Class = checker.Illegal, classes, classes[0]
		res.Why = strings.Join(why, "; ")
	case chk.Acked == 0:
		res.Verdict, res.Why = checker.Unknown, "nothing was acked: there was no data to lose"
	case chk.Verdict == checker.Unknown:
		res.Verdict, res.Why = checker.Unknown, "the checker could not read the whole bucket"
	case chk.Verdict == checker.Illegal:
		// An empty bucket with acked records is a loss the violations
		// above already name; anything else the checker flags counts too.
		res.Verdict, res.Classes, res.Class = checker.Illegal, []Class{ClassLost}, ClassLost
		res.Why = strings.TrimSpace(chk.Err().Error())
	case met == 0:
		res.Verdict, res.Why = checker.Unknown, "no fault met the data: every acked record is in the bucket, but nothing was tested"
	default:
		res.Verdict = checker.Ok
		res.Why = fmt.Sprintf("%d of %d faults met the data; every acked record is in the bucket exactly once and the group drained", met, len(res.Steps))
	}
}

func onlyDrain(cs []Class) bool {
	for _, c := range cs {
		if c != ClassStale && c != ClassNotDrained {
			return false
		}
	}
	return true
}

func rank(c Class) int {
	for i, x := range classOrder {
		if x == c {
			return i
		}
	}
	return len(classOrder)
}

// Timeline is a run as the observer saw it, offsets from the run's start.
type Timeline struct {
	// Acked is the acked count every 50ms.
	Acked   []int           `json:"acked"`
	Puts    []TimelinePut   `json:"puts"`
	Commits []time.Duration `json:"commits_ns"`
	End     time.Duration   `json:"end_ns"`
}

// TimelinePut is one PUT the store tap saw.
type TimelinePut struct {
	Key    string        `json:"key"`
	Began  time.Duration `json:"began_ns"`
	Ended  time.Duration `json:"ended_ns"` // 0: never answered
	Status int           `json:"status"`
}

const ackStep = 50 * time.Millisecond

func timelineOf(h *history.History, puts []putRec, commits []commitRec) Timeline {
	t0 := h.Start()
	var tl Timeline
	tl.End = time.Since(t0)
	n := int(tl.End/ackStep) + 1
	tl.Acked = make([]int, n)
	for _, e := range h.Filter(history.Produce) {
		if e.Outcome == history.Acked {
			if i := int(e.At.Sub(t0) / ackStep); i >= 0 && i < n {
				tl.Acked[i]++
			}
		}
	}
	for i := 1; i < n; i++ {
		tl.Acked[i] += tl.Acked[i-1]
	}
	for _, p := range puts {
		tp := TimelinePut{Key: p.key, Began: p.began.Sub(t0), Status: p.status}
		if !p.ended.IsZero() {
			tp.Ended = p.ended.Sub(t0)
		}
		tl.Puts = append(tl.Puts, tp)
	}
	for _, c := range commits {
		tl.Commits = append(tl.Commits, c.at.Sub(t0))
	}
	return tl
}
