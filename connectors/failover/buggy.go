package failover

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors"
)

// NewBuggy builds the failover producer as it shipped before incident 5
// ("dual-region failover that dropped messages"): same clients, same
// timeouts, same metrics, but its primary-failure handler is
// logAndContinue below.
//
// In production the primary region was down for two hours. Every record the
// primary failed went through the failure handler, which logged the error
// and returned an empty result with no error; the caller treated "no error"
// as "delivered". The secondary region was never tried, nothing reached it,
// and every record of the outage was lost while the producer reported
// success. While the primary is healthy the handler never runs, so nothing
// looks wrong.
//
// The fix is Producer.failover: try the secondary synchronously and, if it
// fails too, return the error to the caller.
func NewBuggy(cfg Config) (*Producer, error) {
	p, err := newProducer(cfg)
	if err != nil {
		return nil, err
	}
	p.onPrimaryFailure = p.logAndContinue
	return p, nil
}

// logAndContinue handles a record the primary did not acknowledge.
func (p *Producer) logAndContinue(_ context.Context, r *kgo.Record, primaryErr error) (connectors.Ack, error) {
	p.m.failovers.WithLabelValues(outcomeLabel(notWritten(primaryErr))).Inc()
	p.cfg.Logf("failover %s: produce to %s failed, failing over: %v", p.cfg.Process, p.cfg.PrimaryName, primaryErr)
	// THE DEFECT: the handler returns the zero Ack and a nil error. The
	// secondary is never tried, and the caller takes nil for delivered.
	return connectors.Ack{}, nil
}
