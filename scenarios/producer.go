package scenarios

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/sampler"
	"github.com/pipechaos/pipechaos/harness/workload"
)

// plainProducer is an idempotent franz-go producer in one region, with a
// delivery timeout so that a record nobody can take ends indeterminate
// rather than blocking the run.
type plainProducer struct {
	workload.Producer
	cl *kgo.Client
}

func (p *plainProducer) close() { p.cl.Close() }

func regionProducer(r *harness.Run, region string, opts ...kgo.Opt) (*plainProducer, error) {
	opts = append([]kgo.Opt{kgo.RecordDeliveryTimeout(5 * time.Second), kgo.ProducerLinger(5 * time.Millisecond)}, opts...)
	cl, err := r.Env.Region(region).Client(opts...)
	if err != nil {
		return nil, err
	}
	return &plainProducer{Producer: workload.KafkaProducer(cl, region), cl: cl}, nil
}

// sinkProbe samples a sink's buffered bytes and lag gauges.
func sinkProbe(s *runningSink) sampler.Probe {
	return sampler.Prometheus(s.metrics(),
		"pipechaos_s3sink_buffered_bytes", "pipechaos_s3sink_buffered_records", "pipechaos_s3sink_consumer_lag",
		"pipechaos_s3sink_records_written_total", "pipechaos_s3sink_retries_total", "pipechaos_s3sink_rebalances_total")
}

// since is how far into the run t is, for the narrative.
func since(r *harness.Run, t time.Time) time.Duration {
	return t.Sub(r.History.Start()).Round(time.Millisecond)
}
