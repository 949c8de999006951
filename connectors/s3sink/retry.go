package s3sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// errBudget is wrapped by the error of a write that found the sink's retry
// budget spent.
var errBudget = errors.New("retry budget exhausted")

// retrier is the retry policy: exponential backoff with seeded jitter, at
// most maxRetries per operation, and a budget shared by the whole sink.
type retrier struct {
	maxRetries int
	base, cap  time.Duration

	mu     sync.Mutex
	rng    *rand.Rand
	budget int // retries left
	total  int // configured budget
}

func newRetrier(c Config) *retrier {
	return &retrier{
		maxRetries: c.MaxRetries,
		base:       c.RetryBackoff,
		cap:        c.RetryBackoffMax,
		rng:        rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)),
		budget:     c.RetryBudget,
		total:      c.RetryBudget,
	}
}

// backoff is the wait before retry number attempt (0-based): base·2^attempt,
// capped, then jittered into [d/2, d].
func (r *retrier) backoff(attempt int) time.Duration {
	d := r.base
	for i := 0; i < attempt && d < r.cap; i++ {
		d *= 2
	}
	d = min(d, r.cap)
	if d <= 1 {
		return d
	}
	r.mu.Lock()
	j := time.Duration(r.rng.Int64N(int64(d/2) + 1))
	r.mu.Unlock()
	return d/2 + j
}

// take spends one retry of the budget; false if none is left.
func (r *retrier) take() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.budget <= 0 {
		return false
	}
	r.budget--
	return true
}

// left is the budget not yet spent.
func (r *retrier) left() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.budget
}

// do runs op until it succeeds, returns a permanent error, or the policy
// gives up. onRetry is called before each retry (for metrics and logs).
func (r *retrier) do(ctx context.Context, what string, op func(context.Context) error, permanent func(error) bool, onRetry func(attempt int, err error)) error {
	for attempt := 0; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		if permanent != nil && permanent(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if attempt >= r.maxRetries {
			return fmt.Errorf("%s: giving up after %d retries: %w", what, attempt, err)
		}
		if !r.take() {
			return fmt.Errorf("%s: %w (%d retries for the run): last error: %w", what, errBudget, r.total, err)
		}
		if onRetry != nil {
			onRetry(attempt, err)
		}
		if err := sleepCtx(ctx, r.backoff(attempt)); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
