package autoscaler

import (
	"fmt"
	"time"

	"github.com/pipechaos/pipechaos/connectors"
)

// Signals are what a policy decides from, measured by the Pool at one
// evaluation (the role's type, connectors.Signals).
type Signals = connectors.Signals

// Policy decides how many workers there should be (the role,
// connectors.Policy). The Pool calls Desired from one goroutine, once per
// evaluation, and clamps the answer to its MinWorkers..MaxWorkers; a policy
// may keep state between calls (when a condition started, when it last
// scaled).
type Policy = connectors.Policy

// clamp bounds n by the signals' pool bounds, and by one worker.
func clamp(s Signals, n int) int {
	if s.MaxWorkers > 0 {
		n = min(n, s.MaxWorkers)
	}
	return max(n, s.MinWorkers, 1)
}

// Throughput is the correct policy: it scales on the consumption rate per
// worker, sustained, and never on lag. Lag is a consequence of scaling as
// much as a cause for it (a rebalance stops consumption, so lag grows), so a
// policy that follows lag feeds on its own decisions (see Lag). The rate a
// worker actually consumes only says "add a worker" when the workers are
// busy, and a rebalance's dip to zero cannot make it scale again: the
// cooldown after every change is longer than a rebalance.
//
// Throughput is not safe for concurrent use.
type Throughput struct {
	// PerWorker is the consumption rate, records per second, one worker
	// sustains comfortably. Required.
	PerWorker float64
	// UpAt is the share of PerWorker above which the rate per worker must
	// stay for Sustain before a worker is added. Default 0.8.
	UpAt float64
	// DownAt is the share of PerWorker below which the rate per worker must
	// stay for Sustain before a worker is removed. The band between DownAt
	// and UpAt is the hysteresis: inside it nothing changes. Default 0.3.
	DownAt float64
	// Sustain is how long a condition must hold. Default 1s.
	Sustain time.Duration
	// Cooldown is how long after a change no other change is made, so the
	// rebalance a change causes is over before the rate is trusted again.
	// Default 5s.
	Cooldown time.Duration

	above, below time.Time // when the rate went above UpAt / below DownAt
	changed      time.Time // the last change this policy asked for
}

const (
	defaultUpAt     = 0.8
	defaultDownAt   = 0.3
	defaultSustain  = time.Second
	defaultCooldown = 5 * time.Second
)

// Validate reports what is wrong with the policy's settings.
func (p *Throughput) Validate() error {
	switch {
	case p.PerWorker <= 0:
		return fmt.Errorf("throughput policy: PerWorker must be positive (got %g): set it to the records/s one worker sustains", p.PerWorker)
	case p.UpAt < 0 || p.DownAt < 0 || p.Sustain < 0 || p.Cooldown < 0:
		return fmt.Errorf("throughput policy: thresholds and durations cannot be negative")
	case p.UpAt != 0 && p.DownAt != 0 && p.DownAt >= p.UpAt:
		return fmt.Errorf("throughput policy: DownAt %g must be below UpAt %g, or nothing ever settles", p.DownAt, p.UpAt)
	}
	return nil
}

// Desired adds a worker when every worker has consumed at least UpAt ×
// PerWorker for Sustain, removes one when they consumed less than DownAt ×
// PerWorker for Sustain, and otherwise (and during Cooldown) keeps the count.
func (p *Throughput) Desired(s Signals) int {
	upAt, downAt := or(p.UpAt, defaultUpAt), or(p.DownAt, defaultDownAt)
	sustain := or(p.Sustain, defaultSustain)
	cooldown := or(p.Cooldown, defaultCooldown)
	if s.Workers <= 0 {
		return 1
	}
	if !p.changed.IsZero() && s.Now.Sub(p.changed) < cooldown {
		p.above, p.below = time.Time{}, time.Time{}
		return s.Workers
	}
	per := s.Throughput / float64(s.Workers)
	want := s.Workers
	switch {
	case per >= upAt*p.PerWorker:
		p.below = time.Time{}
		if p.above.IsZero() {
			p.above = s.Now
		}
		if s.Now.Sub(p.above) >= sustain {
			want = s.Workers + 1
		}
	case per < downAt*p.PerWorker:
		p.above = time.Time{}
		if p.below.IsZero() {
			p.below = s.Now
		}
		if s.Now.Sub(p.below) >= sustain {
			want = s.Workers - 1
		}
	default:
		p.above, p.below = time.Time{}, time.Time{}
	}
	if want = clamp(s, want); want != s.Workers {
		p.changed = s.Now
		p.above, p.below = time.Time{}, time.Time{}
	}
	return want
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
