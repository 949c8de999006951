package scenarios

// Where a run's systems under test come from, in one place. A sink of the
// catalogue is either ours (connectors/s3sink, fixed or buggy) or the
// user's (SinkConformance, `pipechaos run --sink-cmd`); a sink that must
// be killed, paused or measured runs as a process (harness/sut): the
// user's always, ours where a scenario registers its variants with
// processSinks.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/sut"
)

// userSUT is a user's sink for a run: how to make its process, and what
// it promises.
type userSUT struct {
	// spec makes the process of one sink instance named name.
	spec func(name string, a connectors.Addresses) (sut.Spec, error)
	// inProcess, when set instead of spec, builds the sink in the
	// harness's process (SinkConformanceIn: the factory runs the sink
	// where it likes, a container say).
	inProcess connectors.SinkFactory
	// label says what the sink is, for the narrative.
	label string
	conformanceConfig
}

// runState is what the scenarios package keeps per run: the user's sink,
// if any, and every sink process started.
type runState struct {
	user *userSUT
	// roles are the user's producer, transform or policy, if any.
	roles *userRoles
	// env is added to every sink process the run starts.
	env []string

	mu    sync.Mutex
	seq   int
	procs []*sut.Sink
}

var runs sync.Map // *harness.Run → *runState

func (st *runState) next() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.seq++
	return st.seq
}

func stateOf(r *harness.Run) *runState {
	st, _ := runs.LoadOrStore(r, &runState{})
	return st.(*runState)
}

// forgetRun drops the run's state once it is over.
func forgetRun(r *harness.Run) { runs.Delete(r) }

func userOf(r *harness.Run) *userSUT {
	if st, ok := runs.Load(r); ok {
		return st.(*runState).user
	}
	return nil
}

// withUser runs the scenario run with the user's sink in place of ours.
func withUser(run func(ctx context.Context, r *harness.Run) error, u *userSUT) func(ctx context.Context, r *harness.Run) error {
	return func(ctx context.Context, r *harness.Run) error {
		stateOf(r).user = u
		return run(ctx, r)
	}
}

// sink makes one instance of the user's sink as a process.
func (u *userSUT) sink(r *harness.Run, region, topic, group string) (connectors.Sink, error) {
	if u.inProcess != nil {
		return u.inProcess(addressesOf(r, region, topic, group), fmt.Sprintf("%s-%d", group, stateOf(r).next()))
	}
	return startProcessSink(r, addressesOf(r, region, topic, group), u.spec, u.memoryLimit)
}

// startProcessSink makes the sink process spec describes for addresses a,
// named after its group and a sequence number, and keeps it in the run's
// state (processesOf).
func startProcessSink(r *harness.Run, a connectors.Addresses, spec func(string, connectors.Addresses) (sut.Spec, error), limit int64) (*sut.Sink, error) {
	st := stateOf(r)
	name := fmt.Sprintf("%s-%d", a.Group, st.next())
	s, err := spec(name, a)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	s.Env = append(s.Env, st.env...)
	st.mu.Unlock()
	s.MemoryLimit = limit
	ps, err := sut.NewSink(s)
	if err != nil {
		return nil, err
	}
	ps.Logf = r.Logf
	st.mu.Lock()
	st.procs = append(st.procs, ps)
	st.mu.Unlock()
	return ps, nil
}

// processesOf lists the processes of every sink process the run started.
func processesOf(r *harness.Run) []*sut.Process {
	st := stateOf(r)
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []*sut.Process
	for _, s := range st.procs {
		if p := s.Process(); p != nil {
			out = append(out, p)
		}
	}
	return out
}

// seedEnv carries the run's seed into a sink process of ours (retry
// jitter).
const seedEnv = "PIPECHAOS_SINK_SEED"

// processSinks registers a scenario's two s3sink variants — s3sink.New and
// buggy, each adjusted by tune — as sink factories of this binary
// ("<scenario>/fixed", "<scenario>/buggy"), so that they run as child
// processes like a user's sink. It must be called at package level (the
// child process looks the factory up before any test runs). The result
// gives the builder for a run's variant; limit caps each process's memory
// (0: none).
func processSinks(scenario string, buggy func(s3sink.Config) (*s3sink.Sink, error), tune func(*s3sink.Config), limit int64) func(*harness.Run) sinkBuilder {
	reg := func(v harness.Variant, build func(s3sink.Config) (*s3sink.Sink, error)) string {
		return sut.Register(scenario+"/"+string(v), func(a connectors.Addresses, name string) (connectors.Sink, error) {
			seed, _ := strconv.ParseUint(os.Getenv(seedEnv), 10, 64)
			cfg := addressConfig(a, name, seed)
			cfg.Logf = func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
			if tune != nil {
				tune(&cfg)
			}
			return build(cfg)
		})
	}
	names := map[harness.Variant]string{harness.Fixed: reg(harness.Fixed, s3sink.New), harness.Buggy: reg(harness.Buggy, buggy)}
	return func(r *harness.Run) sinkBuilder {
		factory := names[r.Variant]
		return func(r *harness.Run, region, topic, group string) (connectors.Sink, error) {
			if u := userOf(r); u != nil {
				return u.sink(r, region, topic, group)
			}
			return startProcessSink(r, addressesOf(r, region, topic, group), func(name string, a connectors.Addresses) (sut.Spec, error) {
				return sut.ForFactory(factory, name, a, fmt.Sprintf("%s=%d", seedEnv, uint64(r.Seed)))
			}, limit)
		}
	}
}

// checkOpts are the checker options of the run's declared guarantee
// (exactly-once and per-key order for our sinks), then extra.
func checkOpts(r *harness.Run, extra ...checker.Option) []checker.Option {
	if u := userOf(r); u != nil { // the user's declaration has the last word
		return append(extra, u.guarantee.options()...)
	}
	return extra
}
