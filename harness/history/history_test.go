package history

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAppendIsOrderedAndConcurrencySafe(t *testing.T) {
	h := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				h.Produced("p", uint64(i*100+j+1), "k", Acked, "primary", "t", 0, int64(j), nil)
			}
		}()
	}
	wg.Wait()
	ev := h.Events()
	require.Len(t, ev, 800)
	for i, e := range ev {
		require.Equal(t, int64(i), e.Seq)
		if i > 0 {
			require.False(t, e.At.Before(ev[i-1].At), "timestamps never go back")
		}
	}
	require.Equal(t, 800, h.Count(Produce, Acked))
	require.Equal(t, 0, h.Count(Produce, Failed))
}

func TestFaultsPairsStartsAndHeals(t *testing.T) {
	h := New()
	h.FaultStarted("broker-crash", "primary/broker-1", "crash")
	h.FaultStarted("store-fault", "store", "503")
	h.FaultHealed("broker-crash", "primary/broker-1", "healed")
	spans := Faults(h.Events())
	require.Len(t, spans, 2)
	require.Equal(t, "broker-crash", spans[0].Fault)
	require.False(t, spans[0].Healed.IsZero())
	require.True(t, spans[1].Healed.IsZero(), "a fault never healed has no heal time")
}

func TestPeak(t *testing.T) {
	h := New()
	for _, v := range []float64{3, 9, 4} {
		h.Sample("lag_total", nil, v)
	}
	h.Sample("other", nil, 100)
	v, at := Peak(h.Events(), "lag_total")
	require.Equal(t, 9.0, v)
	require.False(t, at.IsZero())
}
