package protoproxy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/fakes/kafkaproxy"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
	"github.com/pipechaos/pipechaos/harness/env/protoproxy"
	"github.com/pipechaos/pipechaos/scenarios"
)

// frontEnv is an environment whose regions are reached only through a
// Front, the way a real-Kafka backend wires it: clients get the front's
// addresses, and protocol faults come from the proxy. The embedded
// regions' own kfake hooks are hidden (frontRegion embeds env.Region, the
// interface, so only its methods are promoted).
type frontEnv struct {
	env.Environment
	regions  map[string]*frontRegion
	override map[string]env.Region // a region of another kind (real Kafka)
	backend  string                // "" : the embedded environment's name
}

func (e *frontEnv) Backend() string {
	if e.backend != "" {
		return e.backend
	}
	return e.Environment.Backend()
}

func (e *frontEnv) Region(name string) env.Region {
	if r := e.override[name]; r != nil {
		return r
	}
	if r := e.regions[name]; r != nil {
		return r
	}
	return nil
}

type frontRegion struct {
	env.Region
	*protoproxy.Front
}

var (
	_ env.ProtocolFaulter = (*frontRegion)(nil)
	_ env.RequestSlower   = (*frontRegion)(nil)
)

func (r *frontRegion) Bootstrap() []string { return r.Front.Bootstrap() }
func (r *frontRegion) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append(env.ClientOpts(r.Front.Bootstrap()), opts...)...)
}

func newFrontEnv(t *testing.T) *frontEnv {
	t.Helper()
	e, err := embedded.New(t, env.Config{Backend: env.Embedded, BrokersPerRegion: 3, Bucket: "pipechaos"})
	require.NoError(t, err)
	fe := &frontEnv{Environment: e, regions: map[string]*frontRegion{}}
	for _, name := range []string{env.Primary, env.Secondary} {
		r := e.Region(name)
		up := map[int32]string{}
		for i, id := range r.Brokers() {
			up[id] = r.Bootstrap()[i]
		}
		f, err := protoproxy.New(kafkaproxy.Config{Brokers: up})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, f.Close()) })
		fe.regions[name] = &frontRegion{Region: r, Front: f}
	}
	return fe
}

// rerun-duplicates with its failing OffsetCommits injected by the
// protocol proxy instead of kfake: the fixed sink passes, the buggy one is
// caught, and the proxy's counters show the fault met the commits.
func TestRerunDuplicatesThroughTheFront(t *testing.T) {
	s, ok := scenarios.Lookup("rerun-duplicates")
	require.True(t, ok)
	for _, v := range []harness.Variant{harness.Fixed, harness.Buggy} {
		t.Run(string(v), func(t *testing.T) {
			seed, err := harness.Seed(s.Name)
			require.NoError(t, err)
			e := newFrontEnv(t)
			out := harness.Execute(context.Background(), s, v, e, seed, t.Logf)
			require.Empty(t, out.Skipped)
			require.Empty(t, out.Error)
			if v == harness.Fixed {
				require.Empty(t, out.Failure, "the fixed sink must pass")
			} else {
				require.True(t, strings.Contains(out.Failure, "BUG REPRODUCED"), "the buggy sink must be caught, got %q", out.Failure)
			}
			st := e.regions[env.Primary].Stats()
			// The sink's commits go through the front. Whether one of them
			// fell inside the fault's window depends on the sink's timing
			// (the scenario kills it after three writes under the fault);
			// that the proxy answers a commit with the fault is proven in
			// fakes/kafkaproxy's own tests.
			require.Positive(t, st.Key(8).Seen, "the sink's OffsetCommits went through the proxy")
			t.Logf("primary front: %d OffsetCommits seen, %d answered with the fault", st.Key(8).Seen, st.Key(8).Answered)
		})
	}
}
