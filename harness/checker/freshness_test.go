package checker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFreshness(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ds := []Delivery{
		// partition 0 keeps up: each record is stored 150ms after its ack.
		{Partition: 0, Acked: at(0), Stored: at(150)},
		{Partition: 0, Acked: at(100), Stored: at(250)},
		{Partition: 0, Acked: at(200), Stored: at(350)},
		// partition 1 stops being loaded after its first record; the
		// third is stored before the second (out of ack order).
		{Partition: 1, Acked: at(0), Stored: at(50)},
		{Partition: 1, Acked: at(100)},
		{Partition: 1, Acked: at(200), Stored: at(250)},
	}
	got := Freshness(ds, 100*time.Millisecond, at(500))
	lags := func(p int32) []time.Duration {
		var out []time.Duration
		for _, s := range got[p] {
			out = append(out, s.Lag)
		}
		return out
	}
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	require.Equal(t, ms(0, 100, 100, 100, 0, 0), lags(0))
	require.Equal(t, ms(0, 0, 100, 200, 300, 400), lags(1), "the unstored record ages one second per second")
	require.Empty(t, Freshness(nil, time.Second, at(0)), "no deliveries, no samples")
}
