package history

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// DefaultSeriesCap bounds the samples a history keeps per series (one
// metric with one label set): at 10 samples a second, about 13 minutes at
// full resolution, after which the series is thinned (see series.add).
const DefaultSeriesCap = 8192

// compactSample reports whether e is a metric sample a series can hold
// losslessly: one that sets no field but Metric, Labels and Value.
func compactSample(e Event) bool {
	return e.Type == Metric && e.Process == "" && e.RecordID == 0 && e.Key == "" && e.Outcome == "" &&
		e.Region == "" && e.Topic == "" && e.Partition == 0 && e.Offset == 0 && e.Err == "" &&
		e.Object == "" && e.Records == 0 && e.Bytes == 0 && e.Fault == "" && e.Phase == "" &&
		e.Target == "" && e.Text == ""
}

// seriesSet holds metric samples by series, each bounded.
type seriesSet struct {
	cap     int
	byKey   map[string]*series
	n       int // samples held
	thinned int // samples merged away
}

type series struct {
	metric  string
	labels  map[string]string
	samples []sample
}

type sample struct {
	seq int64
	at  int64 // Unix nanoseconds
	v   float64
}

func newSeriesSet(limit int) seriesSet {
	return seriesSet{cap: max(limit, 16), byKey: map[string]*series{}}
}

func seriesKeyOf(metric string, labels map[string]string) string {
	if len(labels) == 0 {
		return metric
	}
	ks := make([]string, 0, len(labels))
	for k := range labels {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	b.WriteString(metric)
	for _, k := range ks {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
	}
	return b.String()
}

// add appends a sample to its series. A series that reaches the cap is
// thinned to half: every run of four consecutive samples keeps its smallest
// and its largest (in time order), so peaks and troughs (a memory peak, a
// lag that recovers) survive; the newest samples are never dropped.
func (s *seriesSet) add(e Event) {
	k := seriesKeyOf(e.Metric, e.Labels)
	sr, ok := s.byKey[k]
	if !ok {
		sr = &series{metric: e.Metric, labels: e.Labels}
		s.byKey[k] = sr
	}
	sr.samples = append(sr.samples, sample{seq: e.Seq, at: e.At.UnixNano(), v: e.Value})
	s.n++
	if len(sr.samples) >= s.cap {
		before := len(sr.samples)
		sr.samples = thin(sr.samples)
		s.n -= before - len(sr.samples)
		s.thinned += before - len(sr.samples)
	}
}

func thin(in []sample) []sample {
	out := in[:0]
	i := 0
	for ; i+4 <= len(in)-4; i += 4 { // the last full window and the tail stay
		w := in[i : i+4]
		lo, hi := 0, 0
		for j := range w {
			if w[j].v < w[lo].v {
				lo = j
			}
			if w[j].v > w[hi].v {
				hi = j
			}
		}
		a, b := min(lo, hi), max(lo, hi)
		if a == b {
			a, b = 0, 3
		}
		x, y := w[a], w[b]
		out = append(out, x, y)
	}
	return append(out, in[i:]...)
}

func (s *seriesSet) len() int { return s.n }

func (s *seriesSet) bytes() int64 { return int64(s.n)*24 + int64(len(s.byKey))*128 }

// events returns every sample as an Event, in sequence order.
func (s *seriesSet) events() []Event {
	out := make([]Event, 0, s.n)
	for _, sr := range s.byKey {
		for _, x := range sr.samples {
			out = append(out, Event{Seq: x.seq, At: time.Unix(0, x.at), Type: Metric, Metric: sr.metric, Labels: sr.labels, Value: x.v})
		}
	}
	slices.SortFunc(out, func(a, b Event) int { return int(a.Seq - b.Seq) })
	return out
}
