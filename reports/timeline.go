package reports

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/pipechaos/pipechaos/harness/history"
)

// Timeline is the run over time: the series the HTML page draws.
type Timeline struct {
	DurationSeconds float64  `json:"duration_seconds"`
	BucketSeconds   float64  `json:"bucket_seconds"`
	Series          []Series `json:"series"`
}

// Series is one line of a panel. Points are [seconds since start, value].
type Series struct {
	Panel  string            `json:"panel"`
	Name   string            `json:"name"`
	Unit   string            `json:"unit"`
	Labels map[string]string `json:"labels,omitempty"`
	Points [][2]float64      `json:"points"`
}

// Panels, top to bottom.
const (
	PanelThroughput = "throughput"
	PanelLag        = "lag"
	PanelFreshness  = "freshness"
	PanelBuffered   = "buffered"
	PanelStore      = "store"
)

var panelOrder = []string{PanelThroughput, PanelLag, PanelFreshness, PanelBuffered, PanelStore}

// buckets is how many throughput buckets a timeline has.
const buckets = 120

// A produce outcome in events stands for every outcomes (a downsampled run).
func buildTimeline(events []history.Event, every int, start time.Time, duration float64) Timeline {
	if duration <= 0 {
		duration = 1e-3
	}
	t := Timeline{DurationSeconds: round(duration), Series: []Series{}}
	width := duration / buckets
	t.BucketSeconds = round(width)
	at := func(e history.Event) float64 { return e.At.Sub(start).Seconds() }
	bucketOf := func(s float64) int { return min(max(int(s/width), 0), buckets-1) }

	// Throughput: records per second in each bucket.
	acked, notAcked, written := make([]float64, buckets), make([]float64, buckets), make([]float64, buckets)
	var ackTimes, writeTimes []float64
	var writeCounts []int
	metrics := map[string]*Series{}
	var metricKeys []string
	for _, e := range events {
		s := at(e)
		switch e.Type {
		case history.Produce:
			if e.Outcome == history.Acked {
				acked[bucketOf(s)] += float64(every)
				ackTimes = append(ackTimes, s)
			} else {
				notAcked[bucketOf(s)] += float64(every)
			}
		case history.SinkWrite:
			written[bucketOf(s)] += float64(e.Records)
			writeTimes = append(writeTimes, s)
			writeCounts = append(writeCounts, e.Records)
		case history.Metric:
			k := seriesKey(e.Metric, e.Labels)
			m, ok := metrics[k]
			if !ok {
				m = &Series{Name: e.Metric, Labels: e.Labels}
				metrics[k] = m
				metricKeys = append(metricKeys, k)
			}
			m.Points = append(m.Points, [2]float64{round(s), round(e.Value)})
		}
	}
	// Rates over a sliding window of several buckets: flushes every few
	// hundred milliseconds would otherwise draw as spikes.
	window := max(buckets/12, 1)
	rate := func(name string, counts []float64) Series {
		s := Series{Panel: PanelThroughput, Name: name, Unit: "records/s", Points: make([][2]float64, buckets)}
		var inWindow float64
		for i, c := range counts {
			inWindow += c
			if i >= window {
				inWindow -= counts[i-window]
			}
			s.Points[i] = [2]float64{round(float64(i+1) * width), round(inWindow / (float64(min(i+1, window)) * width))}
		}
		return s
	}
	t.Series = append(t.Series, rate("produced (acked)", acked))
	if sum(notAcked) > 0 {
		t.Series = append(t.Series, rate("produce failed or unknown", notAcked))
	}
	t.Series = append(t.Series, rate("written by sink", written))

	sort.Strings(metricKeys)
	lagName := "lag"
	if !hasMetric(metrics, func(n string) bool { return n == "lag" }) {
		lagName = ""
		for _, k := range metricKeys {
			if strings.HasSuffix(metrics[k].Name, "consumer_lag") {
				lagName = metrics[k].Name
				break
			}
		}
	}
	sampledFreshness := false
	for _, k := range metricKeys {
		m := metrics[k]
		switch {
		case lagName != "" && m.Name == lagName:
			m.Panel, m.Unit = PanelLag, "records"
			m.Name = "partition " + partitionLabel(m.Labels)
		case m.Name == "lag_total":
			m.Panel, m.Unit, m.Name = PanelLag, "records", "total"
		case strings.HasSuffix(m.Name, "_lag") && !strings.HasSuffix(m.Name, "consumer_lag"):
			// A lag the scenario sampled its own way (null-headers'
			// committed_lag: records past the group's commits).
			m.Panel, m.Unit = PanelLag, "records"
			m.Name = strings.ReplaceAll(m.Name, "_", " ")
			if topic := m.Labels["topic"]; topic != "" {
				m.Name += " " + topic
			}
		case strings.Contains(m.Name, "freshness") || strings.HasSuffix(m.Name, "lag_seconds"):
			m.Panel, m.Unit = PanelFreshness, "seconds"
			sampledFreshness = true
		case strings.HasSuffix(m.Name, "buffered_bytes"):
			m.Panel, m.Unit = PanelBuffered, "bytes"
			if p := m.Labels["process"]; p != "" {
				m.Name = p
			}
		case m.Name == "store_requests" || m.Name == "store_errors_5xx" || m.Name == "registry_requests":
			*m = counterRate(*m, duration/12)
		default:
			continue
		}
		t.Series = append(t.Series, *m)
	}
	if !sampledFreshness && len(ackTimes) > 0 {
		t.Series = append(t.Series, freshness(ackTimes, writeTimes, writeCounts, duration))
	}
	// Panels in order; in a panel, error series last, so that they are
	// drawn over the totals they are part of (a store answering only 5xx
	// has two equal lines: the red one must show).
	sort.SliceStable(t.Series, func(i, j int) bool {
		a, b := t.Series[i], t.Series[j]
		if pa, pb := panelRank(a.Panel), panelRank(b.Panel); pa != pb {
			return pa < pb
		}
		return !isErrors(a.Name) && isErrors(b.Name)
	})
	return t
}

// freshness estimates, at points across the run, the age of the oldest
// acked record not yet written by the sink (0 once the sink caught up).
func freshness(ackTimes, writeTimes []float64, writeCounts []int, duration float64) Series {
	sort.Float64s(ackTimes)
	s := Series{Panel: PanelFreshness, Name: "age of oldest unwritten record", Unit: "seconds"}
	const n = 2 * buckets
	a, w, wi := 0, 0, 0
	for i := 1; i <= n; i++ {
		now := duration * float64(i) / n
		for a < len(ackTimes) && ackTimes[a] <= now {
			a++
		}
		for wi < len(writeTimes) && writeTimes[wi] <= now {
			w += writeCounts[wi]
			wi++
		}
		age := 0.0
		if w < a {
			age = now - ackTimes[w]
		}
		s.Points = append(s.Points, [2]float64{round(now), round(age)})
	}
	return s
}

// counterRate turns a cumulative counter's samples into a per-second rate,
// over a sliding window of about a twelfth of the run.
func counterRate(m Series, window float64) Series {
	out := Series{Panel: PanelStore, Name: strings.ReplaceAll(m.Name, "_", " ") + "/s", Unit: "per second", Labels: m.Labels, Points: [][2]float64{}}
	j := 0
	for i := 1; i < len(m.Points); i++ {
		for j < i-1 && m.Points[i][0]-m.Points[j+1][0] >= window {
			j++
		}
		dt := m.Points[i][0] - m.Points[j][0]
		if dt <= 0 {
			continue
		}
		out.Points = append(out.Points, [2]float64{m.Points[i][0], round(max(m.Points[i][1]-m.Points[j][1], 0) / dt)})
	}
	return out
}

func isErrors(name string) bool { return strings.Contains(name, "error") }

func hasMetric(m map[string]*Series, match func(string) bool) bool {
	for _, s := range m {
		if match(s.Name) {
			return true
		}
	}
	return false
}

func partitionLabel(l map[string]string) string {
	p := l["partition"]
	if topic := l["topic"]; topic != "" && p != "" {
		return topic + "/" + p
	}
	if p == "" {
		return seriesKey("", l)
	}
	return p
}

func panelRank(p string) int {
	for i, x := range panelOrder {
		if x == p {
			return i
		}
	}
	return len(panelOrder)
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

// round keeps three decimals: enough for a chart, short in JSON.
func round(x float64) float64 { return math.Round(x*1000) / 1000 }
