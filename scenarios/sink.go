package scenarios

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
)

// sinkBuilder makes the sink under test of a scenario for one region,
// topic and consumer group.
type sinkBuilder func(r *harness.Run, region, topic, group string) (connectors.Sink, error)

// sinkConfig is the s3sink configuration every scenario starts from: the
// environment's addresses, the run's history, and scaled-down timings.
func sinkConfig(r *harness.Run, region, topic, group string) s3sink.Config {
	st := r.Env.Store()
	boot := r.Env.Region(region).Bootstrap()
	return s3sink.Config{
		Brokers: boot, Topic: topic, Group: group, RegistryURL: r.Env.Registry().URL(),
		S3Endpoint: st.Endpoint(), S3AccessKey: st.AccessKey(), S3SecretKey: st.SecretKey(), Bucket: st.Bucket(),
		FlushSize: 500, RotateInterval: 250 * time.Millisecond,
		SessionTimeout: 3 * time.Second, RebalanceTimeout: 3 * time.Second,
		Seed:    uint64(r.Seed),
		History: r.History, Process: group,
		KgoOpts: env.ClientOpts(boot),
	}
}

// ourSink builds connectors/s3sink with sinkConfig, adjusted by tune, through
// build (s3sink.New or a buggy constructor).
func ourSink(build func(s3sink.Config) (*s3sink.Sink, error), tune func(*s3sink.Config)) sinkBuilder {
	return func(r *harness.Run, region, topic, group string) (connectors.Sink, error) {
		cfg := sinkConfig(r, region, topic, group)
		if tune != nil {
			tune(&cfg)
		}
		return build(cfg)
	}
}

// userSink adapts a user's sink factory: it only gets addresses.
func userSink(f connectors.SinkFactory) sinkBuilder {
	return func(r *harness.Run, region, topic, group string) (connectors.Sink, error) {
		st := r.Env.Store()
		return f(connectors.Addresses{
			Brokers: r.Env.Region(region).Bootstrap(), Topic: topic, Group: group,
			RegistryURL: r.Env.Registry().URL(),
			S3Endpoint:  st.Endpoint(), S3AccessKey: st.AccessKey(), S3SecretKey: st.SecretKey(), Bucket: st.Bucket(),
		}, group)
	}
}

// runningSink is a sink consuming in the background.
type runningSink struct {
	connectors.Sink
	Group  string
	Region string
	done   chan error
	err    error
	waited bool
}

// startSink builds the sink and runs it until stop.
func startSink(ctx context.Context, r *harness.Run, region, topic, group string, build sinkBuilder) (*runningSink, error) {
	s, err := build(r, region, topic, group)
	if err != nil {
		return nil, err
	}
	rs := &runningSink{Sink: s, Group: group, Region: region, done: make(chan error, 1)}
	go func() { rs.done <- s.Run(ctx) }()
	return rs, nil
}

// stop closes the sink and returns what its Run returned. Idempotent.
func (rs *runningSink) stop() error {
	if !rs.waited {
		rs.Close()
		rs.err = <-rs.done
		rs.waited = true
	}
	return rs.err
}

// metrics is the sink's Prometheus registry, if it exposes one.
func (rs *runningSink) metrics() prometheus.Gatherer {
	if m, ok := rs.Sink.(interface{ Metrics() *prometheus.Registry }); ok {
		return m.Metrics()
	}
	return prometheus.NewRegistry()
}
