package scenarios

import (
	"context"
	"time"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/env"
)

// runningSink is an S3 sink consuming in the background.
type runningSink struct {
	*s3sink.Sink
	Group  string
	Region string
	done   chan error
	err    error
	waited bool
}

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

// startSink builds a sink with new (s3sink.New, or a buggy constructor) and
// runs it until stop.
func startSink(ctx context.Context, r *harness.Run, region string, cfg s3sink.Config, build func(s3sink.Config) (*s3sink.Sink, error)) (*runningSink, error) {
	s, err := build(cfg)
	if err != nil {
		return nil, err
	}
	rs := &runningSink{Sink: s, Group: cfg.Group, Region: region, done: make(chan error, 1)}
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
