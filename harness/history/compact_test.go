package history

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCompactRoundTrip appends a mix of every event type, produce outcomes
// with every field varied (IDs out of order, offsets going back, failed
// outcomes with errors, negative partitions), and reads back exactly what
// was appended, in order, through Events, Filter and Each.
func TestCompactRoundTrip(t *testing.T) {
	h := New()
	rng := rand.New(rand.NewSource(3))
	var want []Event
	outcomes := []Outcome{Acked, Failed, Indeterminate, ""}
	for i := range 5000 {
		var e Event
		switch rng.Intn(10) {
		case 0:
			e = Event{Type: Note, Process: "scenario", Text: fmt.Sprint("note ", i)}
		case 1:
			e = Event{Type: Metric, Metric: "lag", Labels: map[string]string{"p": fmt.Sprint(i % 3)}, Value: rng.Float64()}
		case 2:
			e = Event{Type: SinkWrite, Process: "sink", Object: fmt.Sprint("o", i), Records: i, Bytes: int64(i * 7)}
		default:
			e = Event{Type: Produce, Process: "producer", RecordID: uint64(rng.Intn(100000)), Key: fmt.Sprint("k", rng.Intn(50)),
				Outcome: outcomes[rng.Intn(4)], Region: "primary", Topic: "t", Partition: int32(rng.Intn(8) - 1),
				Offset: rng.Int63n(1 << 40)}
			if e.Outcome == Failed {
				e.Err = errors.New("nope").Error()
			}
			if rng.Intn(50) == 0 {
				e.Text = "a produce event with text is kept whole"
			}
		}
		if rng.Intn(20) == 0 {
			e.At = h.Start().Add(-time.Duration(rng.Intn(1000)) * time.Millisecond)
		}
		want = append(want, h.Append(e))
	}
	got := h.Events()
	require.Len(t, got, len(want))
	for i := range want {
		require.True(t, want[i].At.Equal(got[i].At), "event %d time", i)
		got[i].At = want[i].At
		require.Equal(t, want[i], got[i], "event %d", i)
	}
	var produce []Event
	for _, e := range want {
		if e.Type == Produce {
			produce = append(produce, e)
		}
	}
	f := h.Filter(Produce)
	require.Len(t, f, len(produce))
	for i := range f {
		require.Equal(t, produce[i].Seq, f[i].Seq)
	}
	n := 0
	h.Each(func(Event) bool { n++; return n < 10 })
	require.Equal(t, 10, n, "Each stops when fn says so")
	require.Equal(t, len(produce), h.Count(Produce, ""))
}

func TestDownsampledKeepsEveryOtherTypeAndCountsExact(t *testing.T) {
	h := New()
	for i := 1; i <= 1000; i++ {
		h.Produced("p", uint64(i), "k", Acked, "r", "t", 0, int64(i), nil)
		if i%100 == 0 {
			h.Note("s", "hundred")
		}
	}
	ev, every := h.Downsampled(100)
	require.Equal(t, 10, every)
	var produce, notes int
	for _, e := range ev {
		switch e.Type {
		case Produce:
			produce++
		case Note:
			notes++
		}
	}
	require.Equal(t, 100, produce)
	require.Equal(t, 10, notes)
	require.Equal(t, 1000, h.Count(Produce, Acked))
	ids := 0
	h.EachProduce(func(id uint64, o Outcome) { ids++; require.Equal(t, Acked, o) })
	require.Equal(t, 1000, ids)
}

// TestSeriesBoundedKeepsPeaksAndLast samples one series far past its cap:
// it stays bounded and keeps the peak, the trough and the newest sample.
func TestSeriesBoundedKeepsPeaksAndLast(t *testing.T) {
	h := New()
	const n = 10 * DefaultSeriesCap
	for i := range n {
		v := float64(i % 1000)
		switch i {
		case n / 3:
			v = 1e9
		case n / 2:
			v = -5
		}
		h.Sample("buffered", nil, v)
	}
	h.Sample("buffered", nil, 42)
	ev := h.Filter(Metric)
	require.LessOrEqual(t, len(ev), DefaultSeriesCap)
	peak, _ := Peak(ev, "buffered")
	require.Equal(t, 1e9, peak)
	low := ev[0].Value
	for _, e := range ev {
		low = min(low, e.Value)
	}
	require.Equal(t, -5.0, low)
	require.Equal(t, 42.0, ev[len(ev)-1].Value)
	require.Equal(t, n+1, h.Count(Metric, ""))
}
