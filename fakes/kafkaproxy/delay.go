package kafkaproxy

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Delay holds each matching request for Duration before it is forwarded.
// Requests behind it on the same connection wait too, as they do behind a
// slow broker (a broker serves one request per connection at a time).
// Healing the rule releases the held requests at once.
type Delay struct {
	// Duration is how long each request is held.
	Duration time.Duration
}

// Check refuses a non-positive duration.
func (d Delay) Check(int16) error {
	if d.Duration <= 0 {
		return errNonPositiveDelay(d.Duration)
	}
	return nil
}

// Act holds the request.
func (d Delay) Act(ctx context.Context, _ *Request) kmsg.Response {
	t := time.NewTimer(d.Duration)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}
