package protoproxy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/fakes/kafkaproxy"
	"github.com/pipechaos/pipechaos/fakes/kafkaproxy/realkafka"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/protoproxy"
	"github.com/pipechaos/pipechaos/scenarios"
)

// realRegion is one real Apache Kafka node reached only through a Front:
// what the nodes backend gives a scenario, cut down to what
// rerun-duplicates uses (its broker faults are unsupported here).
type realRegion struct {
	name string
	*protoproxy.Front
}

var _ env.Region = (*realRegion)(nil)

func (r *realRegion) Name() string        { return r.name }
func (r *realRegion) Bootstrap() []string { return r.Front.Bootstrap() }
func (r *realRegion) Brokers() []int32    { return []int32{1} }
func (r *realRegion) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append(env.ClientOpts(r.Front.Bootstrap()), opts...)...)
}

func (r *realRegion) CreateTopic(ctx context.Context, topic string, partitions int32) error {
	cl, err := r.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	for ctx.Err() == nil { // until every partition has a leader
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if d, ok := md.Topics[topic]; ok && d.Err == nil && len(d.Partitions) == int(partitions) {
				led := 0
				for _, p := range d.Partitions {
					if p.Err == nil && p.Leader >= 0 {
						led++
					}
				}
				if led == int(partitions) {
					return nil
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ctx.Err()
}

func unsupported(what string) error {
	return fmt.Errorf("%s on this test's single real Kafka node: %w", what, env.ErrUnsupported)
}

func (r *realRegion) Stop(context.Context) error                 { return unsupported("stop") }
func (r *realRegion) Start(context.Context) error                { return unsupported("start") }
func (r *realRegion) CrashBroker(context.Context, int32) error   { return unsupported("crash") }
func (r *realRegion) RestartBroker(context.Context, int32) error { return unsupported("restart") }
func (r *realRegion) Isolate(context.Context, int32) error       { return unsupported("isolate") }
func (r *realRegion) Reconnect(context.Context, int32) error     { return unsupported("reconnect") }

// rerun-duplicates on real Apache Kafka, its failing OffsetCommits
// injected by the protocol proxy: the fixed sink passes, the buggy one is
// caught. The registry, the store and the secondary region are embedded.
func TestRerunDuplicatesOnRealKafka(t *testing.T) {
	s, ok := scenarios.Lookup("rerun-duplicates")
	require.True(t, ok)
	for _, v := range []harness.Variant{harness.Fixed, harness.Buggy} {
		t.Run(string(v), func(t *testing.T) {
			addr := realkafka.Start(t)
			e := newFrontEnv(t)
			f, err := protoproxy.New(kafkaproxy.Config{Brokers: map[int32]string{1: addr}})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, f.Close()) })
			primary := &realRegion{name: env.Primary, Front: f}
			e.override = map[string]env.Region{env.Primary: primary}
			e.backend = "embedded, primary region on real Apache Kafka behind the protocol proxy"

			seed, err := harness.Seed(s.Name)
			require.NoError(t, err)
			out := harness.Execute(context.Background(), s, v, e, seed, t.Logf)
			require.Empty(t, out.Skipped)
			require.Empty(t, out.Error)
			if v == harness.Fixed {
				require.Empty(t, out.Failure, "the fixed sink must pass on real Kafka")
			} else {
				require.True(t, strings.Contains(out.Failure, "BUG REPRODUCED"), "the buggy sink must be caught, got %q", out.Failure)
			}
			st := f.Stats()
			// Whether a commit falls inside the fault's window is the sink's
			// timing (the kill follows store-observed writes); that the proxy
			// answers one with the fault is proven in fakes/kafkaproxy.
			require.Positive(t, st.Key(8).Seen, "the sink's OffsetCommits went through the proxy")
			require.Zero(t, st.Unparsed)
			t.Logf("real Kafka front: %d OffsetCommits seen, %d answered with the fault", st.Key(8).Seen, st.Key(8).Answered)
		})
	}
}
