package scenarios

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/connect"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/backends"
	"github.com/pipechaos/pipechaos/harness/sut"
)

// SinkScenarios lists, in the order SinkConformance runs them, the
// catalogue's scenarios whose system under test is a sink: each one runs
// a user's sink in place of ours.
var SinkScenarios = []string{
	"baseline", "broker-crash", "sink-crash", "null-headers", "poll-timeout", "memory-budget",
	"schema-drift", "migration", "rerun-duplicates", "store-outage", "registry-outage",
}

// Guarantee is what a sink promises about delivery, and what the checker
// holds it to. The zero value is exactly-once without a per-key order
// promise.
type Guarantee struct {
	// AtLeastOnce allows duplicates: every extra copy is still counted and
	// reported. Default false: exactly-once, any duplicate fails.
	AtLeastOnce bool
	// MaxRecordCopies bounds, under AtLeastOnce, how many times one record
	// may be in the bucket (0: no bound).
	MaxRecordCopies int
	// InOrder promises per-key order within a partition. The checker reads
	// a partition's objects in the order of the start offset in their
	// names, so it needs Kafka Connect's names:
	// topics/<topic>/partition=<p>/<topic>+<p>+<startOffset>.<ext>; with
	// other names the order cannot be judged and the run is inconclusive.
	InOrder bool
}

func (g Guarantee) String() string {
	s := "exactly-once"
	if g.AtLeastOnce {
		s = "at-least-once"
		if g.MaxRecordCopies > 0 {
			s += fmt.Sprintf(" (at most %d copies of a record)", g.MaxRecordCopies)
		}
	}
	if g.InOrder {
		return s + ", per-key order promised"
	}
	return s + ", per-key order not promised"
}

func (g Guarantee) options() []checker.Option {
	var o []checker.Option
	switch {
	case g.AtLeastOnce && g.MaxRecordCopies > 0:
		o = append(o, checker.MaxRecordCopies(g.MaxRecordCopies))
	case g.AtLeastOnce:
		o = append(o, checker.MaxDuplicates(1<<62))
	}
	if !g.InOrder {
		o = append(o, checker.AllowReorder())
	}
	return o
}

// SinkOption configures SinkConformance.
type SinkOption func(*conformanceConfig)

type conformanceConfig struct {
	guarantee    Guarantee
	memoryLimit  int64
	memoryBudget int64
	only, skip   []string
}

// ExactlyOnce declares that the sink writes every record exactly once: no
// duplicate is tolerated. It is the default.
func ExactlyOnce() SinkOption {
	return func(c *conformanceConfig) { c.guarantee.AtLeastOnce, c.guarantee.MaxRecordCopies = false, 0 }
}

// AtLeastOnce declares that the sink may write a record more than once
// (after a crash, a rebalance, a retried commit), at most maxRecordCopies
// times (0: no bound). Duplicates are counted and reported, never lost
// records. Default: exactly-once.
func AtLeastOnce(maxRecordCopies int) SinkOption {
	return func(c *conformanceConfig) {
		c.guarantee.AtLeastOnce, c.guarantee.MaxRecordCopies = true, maxRecordCopies
	}
}

// InOrder declares that the sink keeps per-key order within a partition
// (see Guarantee.InOrder for the object names this needs). Default: order
// is not promised; reorders are reported, not failed.
func InOrder() SinkOption { return func(c *conformanceConfig) { c.guarantee.InOrder = true } }

// MemoryLimit caps each sink process's memory, in bytes (cgroup v1; the
// OOM killer ends a process over it, and the scenario reports the kill).
// Default: no cap.
func MemoryLimit(bytes int64) SinkOption { return func(c *conformanceConfig) { c.memoryLimit = bytes } }

// MemoryBudget is what memory-budget allows the sink process to grow by
// during its burst of large records (30 MiB of 32 KiB records): peak RSS
// minus the RSS it had settled at before the burst. Default: what ours
// gets, 32 MiB, tripled in a binary built with -race (the race detector's
// shadow memory).
func MemoryBudget(bytes int64) SinkOption {
	return func(c *conformanceConfig) { c.memoryBudget = bytes }
}

// Only runs just the named scenarios of SinkScenarios.
func Only(names ...string) SinkOption { return func(c *conformanceConfig) { c.only = names } }

// Skip leaves the named scenarios out.
func Skip(names ...string) SinkOption { return func(c *conformanceConfig) { c.skip = names } }

func newConformance(opts []SinkOption) (conformanceConfig, error) {
	c := conformanceConfig{memoryBudget: memBudget}
	for _, o := range opts {
		o(&c)
	}
	for _, n := range append(append([]string(nil), c.only...), c.skip...) {
		if !slices.Contains(SinkScenarios, n) {
			return c, fmt.Errorf("%q is not a sink scenario (have: %s)", n, strings.Join(SinkScenarios, ", "))
		}
	}
	if c.guarantee.MaxRecordCopies < 0 || c.memoryLimit < 0 || c.memoryBudget < 0 {
		return c, fmt.Errorf("negative bound (copies %d, memory limit %d, budget %d): use 0 for none",
			c.guarantee.MaxRecordCopies, c.memoryLimit, c.memoryBudget)
	}
	return c, nil
}

func (c conformanceConfig) selected() []string {
	var out []string
	for _, n := range SinkScenarios {
		if (len(c.only) == 0 || slices.Contains(c.only, n)) && !slices.Contains(c.skip, n) {
			out = append(out, n)
		}
	}
	return out
}

// SinkConformance proves a user's own Kafka→S3 sink with every scenario
// of the catalogue whose system under test is a sink (SinkScenarios), each
// in a fresh environment on the backend PIPECHAOS_BACKEND selects, each a
// subtest that fails with the BUG REPRODUCED consequence and the seed.
//
// The sink runs as a child process of the test binary — the test binary
// reruns this very test, whose SinkConformance call then serves factory —
// so that the scenarios can kill -9 it, pause it, restart it in the same
// group, cap its memory and measure it. Call it first in its test (what
// runs before it runs in every sink process too), one factory per test or
// subtest:
//
//	func TestMySink(t *testing.T) { scenarios.SinkConformance(t, mysink.New) }
//
// The sink gets addresses only (connectors.Addresses). It must consume the
// topic as a member of the group, write objects under topics/<topic>/
// whose records carry the workload's "id" and "key" fields (Avro OCF with
// the writer schema, or JSON lines, one object per line), commit offsets
// only once its objects are durable, stop cleanly when its Run's context
// ends or Close is called, and survive being killed at any instant. opts
// declare what it promises (ExactlyOnce, AtLeastOnce, InOrder) and bound
// its memory; the verdict says which guarantee was checked.
func SinkConformance(t *testing.T, factory connectors.SinkFactory, opts ...SinkOption) {
	t.Helper()
	sut.ServeInTest(t, factory)
	cfg, err := newConformance(opts)
	if err != nil {
		t.Fatalf("SinkConformance: %v", err)
	}
	u := testSUT(t, cfg)
	for _, name := range cfg.selected() {
		t.Run(name, func(t *testing.T) { conform(t, backends.New(t), name, u) })
	}
}

// SinkConformanceIn runs the same scenarios one after another in e, which
// the caller opened, with a sink that runs as it likes (a container next
// to the containers backend's, say): factory is called in the test
// process. The scenarios use distinct topics, so they share the
// environment without seeing each other.
func SinkConformanceIn(t *testing.T, e env.Environment, factory connectors.SinkFactory, opts ...SinkOption) {
	t.Helper()
	cfg, err := newConformance(opts)
	if err != nil {
		t.Fatalf("SinkConformanceIn: %v", err)
	}
	u := &userSUT{label: "a sink of the test process", conformanceConfig: cfg, inProcess: factory}
	for _, name := range cfg.selected() {
		t.Run(name, func(t *testing.T) { conform(t, e, name, u) })
	}
}

// RunSinkScenarioIn runs one scenario of SinkScenarios in e with a sink
// factory calls in the test process (as SinkConformanceIn does: a Kafka
// Connect worker the factory starts, say) and returns the outcome without
// judging it.
func RunSinkScenarioIn(t *testing.T, e env.Environment, name string, factory connectors.SinkFactory, opts ...SinkOption) harness.Outcome {
	t.Helper()
	cfg, err := newConformance(append(opts, Only(name)))
	if err != nil {
		t.Fatalf("RunSinkScenarioIn: %v", err)
	}
	return runUser(t, e, name, &userSUT{label: "a sink of the test process", conformanceConfig: cfg, inProcess: factory})
}

// RunSinkScenario runs one scenario of SinkScenarios against the sink
// factory builds (as a child process, as SinkConformance does; call it
// first in its test) and returns the outcome without judging it: for
// tests that expect a sink to be caught.
func RunSinkScenario(t *testing.T, name string, factory connectors.SinkFactory, opts ...SinkOption) harness.Outcome {
	t.Helper()
	sut.ServeInTest(t, factory)
	cfg, err := newConformance(append(opts, Only(name)))
	if err != nil {
		t.Fatalf("RunSinkScenario: %v", err)
	}
	return runUser(t, backends.New(t), name, testSUT(t, cfg))
}

// testSUT is the user's sink served by reruns of test t.
func testSUT(t *testing.T, cfg conformanceConfig) *userSUT {
	return &userSUT{label: "the sink of " + t.Name(), conformanceConfig: cfg,
		spec: func(name string, a connectors.Addresses) (sut.Spec, error) { return sut.InTest(t, name, a) }}
}

// CommandSUT is a user's sink run from a shell command line, for
// `pipechaos run --sink-cmd`.
func CommandSUT(cmdline string, opts ...SinkOption) (func(*harness.Scenario) *harness.Scenario, error) {
	cfg, err := newConformance(opts)
	if err != nil {
		return nil, err
	}
	u := &userSUT{label: "the sink command " + cmdline, conformanceConfig: cfg,
		spec: func(name string, a connectors.Addresses) (sut.Spec, error) {
			return sut.ForCommand(cmdline, name, a), nil
		}}
	return func(s *harness.Scenario) *harness.Scenario { return forUser(s, u) }, nil
}

// ConnectSUT is a Kafka Connect sink connector, with its transforms, run in
// a real worker (Apache Kafka's ConnectDistributed, the brokers' version)
// that the harness starts per sink instance, configures through its REST
// API and kills, pauses and restarts like any sink: for `pipechaos run
// --connect-plugin DIR --connector-config FILE.json`. pluginDirs are
// plugin.path directories (ours, with incident 1's header routers, is
// added); configPath is the connector's JSON config, whose values may hold
// connect.Placeholders. The worker finds plugins through their
// META-INF/services manifests (plugin.discovery=service_load).
func ConnectSUT(ctx context.Context, pluginDirs []string, configPath string, opts ...SinkOption) (func(*harness.Scenario) *harness.Scenario, error) {
	cfg, err := newConformance(opts)
	if err != nil {
		return nil, err
	}
	conn, err := connect.LoadConnectorConfig(configPath)
	if err != nil {
		return nil, err
	}
	for _, d := range pluginDirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("plugin directory %s: not a directory (%v): give a plugin.path directory that holds the connector's jars", d, err)
		}
	}
	if why := connect.Available(); why != "" {
		return nil, errors.New(why)
	}
	ours, err := connect.Plugins(ctx)
	if err != nil {
		return nil, fmt.Errorf("build pipechaos's own Connect plugins: %w", err)
	}
	factory := connect.SinkFactory(connect.SinkConfig{
		Worker:    connect.Config{PluginPath: append(slices.Clone(pluginDirs), ours)},
		Connector: conn,
	})
	u := &userSUT{label: fmt.Sprintf("the connector %s (%s) in a Kafka Connect worker", configPath, conn["connector.class"]),
		conformanceConfig: cfg, inProcess: factory}
	return func(s *harness.Scenario) *harness.Scenario { return forUser(s, u) }, nil
}

// IsSinkScenario reports whether the named scenario takes a user's sink.
func IsSinkScenario(name string) bool { return slices.Contains(SinkScenarios, name) }

// forUser is scenario s with the user's sink in place of ours, fixed
// variant only (a user's sink has no buggy twin).
func forUser(base *harness.Scenario, u *userSUT) *harness.Scenario {
	s := *base
	s.Variants = []harness.Variant{harness.Fixed}
	s.Run = withUser(base.Run, u)
	return &s
}

func runUser(t *testing.T, e env.Environment, name string, u *userSUT) harness.Outcome {
	t.Helper()
	t.Logf("%s: %s, checked as %s", name, u.label, u.guarantee)
	out := executeFixed(t, e, name, func(s *harness.Scenario) *harness.Scenario { return forUser(s, u) })
	if out.Check != nil {
		t.Logf("ledger: %s (guarantee checked: %s)", out.Check.Summary(), u.guarantee)
	}
	return out
}

// executeFixed runs the catalogue's scenario name in e, fixed variant, as
// wrap makes it (a user's system under test in place of ours), with the
// scenario's seed and the backend's budget.
func executeFixed(t *testing.T, e env.Environment, name string, wrap func(*harness.Scenario) *harness.Scenario) harness.Outcome {
	t.Helper()
	base, ok := Lookup(name)
	if !ok {
		t.Fatalf("scenario %q is not in the catalogue", name)
	}
	seed, err := harness.Seed(name)
	if err != nil {
		t.Fatal(err)
	}
	return harness.Execute(context.Background(), budgeted(wrap(base), e), harness.Fixed, e, seed, t.Logf)
}

func conform(t *testing.T, e env.Environment, name string, u *userSUT) {
	judgeUser(t, name, runUser(t, e, name, u), fmt.Sprintf(" (guarantee checked: %s)", u.guarantee))
}

// judgeUser fails, skips or passes t by the outcome of a user's system
// under test in scenario name; checked is appended to a failure.
func judgeUser(t *testing.T, name string, out harness.Outcome, checked string) {
	t.Helper()
	switch {
	case out.Skipped != "":
		t.Skipf("%s: %s", name, out.Skipped)
	case out.Error != "":
		t.Fatalf("%s could not run: %s\nreplay: PIPECHAOS_SEED=%d", name, out.Error, out.Seed)
	case out.Verdict == checker.Unknown:
		t.Fatalf("%s is INCONCLUSIVE, it proves nothing: %s\nreplay: PIPECHAOS_SEED=%d", name, strings.Join(out.Inconclusive, "; "), out.Seed)
	case out.Failure != "":
		t.Fatalf("%s%s\nreplay: PIPECHAOS_SEED=%d", out.Failure, checked, out.Seed)
	}
}
