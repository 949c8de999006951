package embedded

import (
	"time"

	"github.com/pipechaos/pipechaos/fakes/kafka"
)

// SlowRequests delays every request with API key key by d until heal.
func (r *Region) SlowRequests(key int16, d time.Duration) (func(), error) {
	c, err := r.running()
	if err != nil {
		return nil, err
	}
	id, err := c.SlowRequests(kafka.Slow{Key: key, DelayMs: d.Milliseconds()})
	if err != nil {
		return nil, err
	}
	return func() { c.RemoveSlow(id) }, nil
}
