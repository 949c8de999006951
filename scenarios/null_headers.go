package scenarios

// Incident 1: a null header kills the filter, and the sink stops for hours.
//
// Symptom: compliance audit records stopped arriving in the bucket for about
// six hours. Nothing alerted; the topic quietly backed up (Kafka retained
// it, so nothing was lost for good — once someone noticed).
//
// Root cause: the sink routed records with a filter transform on the
// wm-site-id header ("US" → the US bucket). It read the header with
// header.value().toString().equals("US"). Legacy records carried no such
// header; the first one threw a NullPointerException. The connector ran with
// errors.tolerance=none, so that one record failed the task, and a failed
// task consumes nothing at all: every record behind it, good or bad, waited.
//
// Fix: a header that is absent, null or malformed takes a permissive default
// route (US) and is counted in pipechaos_filter_exceptions_total{reason};
// the filter never fails, so the pipeline never stops on a header — and the
// metric is what someone alerts on.
//
// The scenario runs the s3sink with the filter in its transform chain and
// errors.tolerance=none (the incident's configuration) in both variants.
// The workload gives 2% of the records no header, 2% a null one and 1% a
// malformed one, mixed in from the first record. What is asserted, from the
// data only: every acked record is in the bucket exactly once (checker);
// each is under the route its header calls for (read back per prefix); the
// exceptions metric equals, reason by reason, the bad headers the producer
// saw acked; the group's sampled lag came back to zero; and objects kept
// being written until the last record. The buggy filter dies on the first
// header it cannot dereference: the harness finds the acked records that
// never reached the bucket, the lag that grew and never came down, and the
// time after which nothing was written. The sink's own error is only logged,
// as what an operator would have seen had they looked.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors/headerfilter"
	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
	"github.com/pipechaos/pipechaos/harness/sampler"
	"github.com/pipechaos/pipechaos/harness/workload"
)

var _ = register(&harness.Scenario{
	Name:        "null-headers",
	Incident:    1,
	Consequence: harness.NotDrained,
	Title:       "A record without a site header kills the filter and the sink stops consuming",
	Story: "A sink routed audit records by their wm-site-id header with header.value().toString().equals(\"US\"). " +
		"Legacy records had no such header: the first one threw, errors.tolerance=none failed the task, and the " +
		"connector consumed nothing for six hours while the topic backed up, with no alert. The fix routes absent, " +
		"null and malformed headers to a default and counts them in a metric; the pipeline never stops on a header.",
	Fault:  "records whose wm-site-id header is absent (2%), null (2%) or malformed (1%), mixed into the stream from the first record; the sink runs with errors.tolerance=none",
	Checks: "every acked record in the bucket once, under the route its header calls for; lag back to zero; reported: the filter's exceptions metric against the bad headers produced; objects written until the end",
	Budget: 20 * time.Second,
	Run:    runNullHeaders,
})

const (
	nullHeadersTopic = "audit"
	nullHeadersGroup = "audit-sink"
	homeRoute        = "site=us"
	otherRoute       = "site=intl"
)

func runNullHeaders(ctx context.Context, r *harness.Run) error {
	if err := r.CreateTopic(ctx, env.Primary, nullHeadersTopic, 4); err != nil {
		return err
	}
	// The system under test: the sink with the site filter in its chain,
	// deployed as in the incident with errors.tolerance=none.
	filter, transform, err := nullHeadersFilter(r)
	if err != nil {
		return err
	}
	sink, err := startSink(ctx, r, env.Primary, nullHeadersTopic, nullHeadersGroup, ourSink(s3sink.New, func(c *s3sink.Config) {
		c.FlushSize, c.RotateInterval = 200, 100*time.Millisecond
		c.Transforms = []s3sink.Transform{transform}
		c.ErrorTolerance = s3sink.ToleranceNone
	}))
	if err != nil {
		return err
	}
	defer sink.stop()
	switch {
	case userOf(r) != nil:
		r.Logf("the user's sink started on %q: the bad headers reach it as they are", nullHeadersTopic)
	case filter == nil:
		r.Logf("sink started on %q with the user's transform in its chain, errors.tolerance=none", nullHeadersTopic)
	default:
		r.Logf("sink started on %q with the %s site filter (%s for US and for any header it cannot read, %s for other sites), errors.tolerance=none",
			nullHeadersTopic, r.Variant, homeRoute, otherRoute)
	}
	admin, err := r.Env.Region(env.Primary).Client()
	if err != nil {
		return err
	}
	defer admin.Close()
	probes := []sampler.Probe{sampler.GroupLag(admin, nullHeadersGroup, nullHeadersTopic)}
	if filter != nil {
		probes = append(probes, sampler.Prometheus(filter.Metrics(), "pipechaos_filter_exceptions_total"))
	}
	smp := r.Sample(ctx, probes...)
	defer smp.Stop()

	census, err := produceHeaderMix(ctx, r)
	if err != nil {
		return err
	}
	drainOrStall(ctx, r, admin)
	smp.Stop()
	if err := sink.stop(); err != nil && !errors.Is(err, context.Canceled) {
		r.Logf("what the operator would have seen, had they looked at the task: %v", err)
	}

	res, err := r.CheckStore(ctx, "", checkOpts(r)...)
	if err != nil {
		return err
	}
	if userOf(r) != nil || filter == nil {
		// A user's sink, or our sink with a user's transform: the bad
		// headers reach it as they are, it routes them as it likes, and
		// it must neither stop nor lose.
		if filter == nil {
			if err := narrateRoutes(ctx, r, res); err != nil {
				return err
			}
		}
		checkLag(r, nullHeadersTopic)
		checkWritesContinued(r, res)
		return nil
	}
	if err := checkRoutes(ctx, r, census, res); err != nil {
		return err
	}
	checkExceptions(r, census, filter.Exceptions())
	checkLag(r, nullHeadersTopic)
	checkWritesContinued(r, res)
	return nil
}

// nullHeadersFilter is the system under test: the variant's site filter
// (returned as filter too, for its metrics), or the user's transform.
func nullHeadersFilter(r *harness.Run) (*headerfilter.Filter, s3sink.Transform, error) {
	if u := rolesOf(r); u != nil && u.transform != nil {
		t, err := u.transform()
		if err != nil {
			return nil, nil, fmt.Errorf("the user's transform could not be built: %w", err)
		}
		if t == nil {
			return nil, nil, errors.New("the user's transform factory returned no transform and no error")
		}
		return nil, t, nil
	}
	newFilter := headerfilter.New
	if r.Variant == harness.Buggy {
		newFilter = headerfilter.NewBuggy
	}
	f, err := newFilter(headerfilter.Config{HomeRoute: homeRoute, OtherRoute: otherRoute, Process: "audit-filter", Logf: r.Logf})
	return f, f, err
}

// narrateRoutes reports the prefixes a user's transform routed records
// under, with the records each holds.
func narrateRoutes(ctx context.Context, r *harness.Run, res checker.Result) error {
	counts, err := objectRecords(ctx, r, "")
	if err != nil {
		return err
	}
	perRoute := map[string]int{}
	for key, n := range counts {
		route, _, _ := strings.Cut(key, "topics/")
		perRoute[strings.TrimSuffix(route, "/")] += n
	}
	var parts []string
	for _, route := range slices.Sorted(maps.Keys(perRoute)) {
		name := route
		if name == "" {
			name = "(no route)"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", name, perRoute[route]))
	}
	r.Logf("routes the transform chose, records per prefix: %s (checker: %d found in all)", strings.Join(parts, ", "), res.FoundRecords)
	return nil
}

// produceHeaderMix runs the workload: a header mix with absent, null and
// malformed site ids. The census sees every record the producer had acked
// and reads its header itself: the expected counts come from the records,
// not from the rates.
func produceHeaderMix(ctx context.Context, r *harness.Run) (*siteCensus, error) {
	p, err := regionProducer(r, env.Primary)
	if err != nil {
		return nil, err
	}
	defer p.close()
	census := &siteCensus{Producer: p, route: map[uint64]string{}, bad: map[string]int{}}
	mix := workload.HeaderMix{Absent: 0.02, Null: 0.02, Malformed: 0.01}
	if _, err := r.Produce(ctx, workload.Config{Topic: nullHeadersTopic, Records: 600, Rate: 2000, Headers: mix,
		Keys: workload.Uniform(64), Schemas: []workload.SchemaStep{{From: 1, Schema: workload.SchemaV1}}, MaxInFlight: 256, Process: "producer"}, census); err != nil {
		return nil, err
	}
	r.Logf("the producer had %d records acked; their headers: %d absent, %d null, %d malformed; the first unroutable one is ID %d (%s)",
		len(census.route), census.bad[headerfilter.ReasonAbsent], census.bad[headerfilter.ReasonNull], census.bad[headerfilter.ReasonMalformed],
		census.firstBad, census.firstReason)
	return census, nil
}

// drainOrStall waits, judging from the group's committed offsets, until
// they reach the end of the topic or stop moving, and narrates which.
func drainOrStall(ctx context.Context, r *harness.Run, admin *kgo.Client) {
	producedAt := time.Now()
	lag, stalled := drainedOrStalled(ctx, admin, nullHeadersGroup, nullHeadersTopic, 1500*time.Millisecond, drainTimeout)
	switch {
	case lag == 0:
		r.Logf("drain: the group committed every record of %q", nullHeadersTopic)
	case stalled:
		r.Logf("drain: the group's commits stopped moving with %d records of %q left; waited %s after the last record was acked", lag, nullHeadersTopic, time.Since(producedAt).Round(time.Millisecond))
	default:
		r.Logf("drain: gave up with %d records of %q to commit", lag, nullHeadersTopic)
	}
}

// siteCensus is the workload's producer, watching: for every record acked,
// it reads the wm-site-id header as it was produced and notes the route the
// record is owed. It reads the header on its own terms (not with the
// filter's code), so the filter is checked against an independent count.
type siteCensus struct {
	workload.Producer

	mu          sync.Mutex
	route       map[uint64]string // ID → the route its header calls for
	bad         map[string]int    // reason → acked records with that header
	firstBad    uint64
	firstReason string // "null header at audit/0@5"
}

var siteID = regexp.MustCompile(`^[A-Z]{2}$`)

func (c *siteCensus) Produce(ctx context.Context, rec *kgo.Record, done func(workload.Ack, error)) {
	id, _ := workload.RecordID(rec)
	reason, site := "absent", ""
	for _, h := range rec.Headers {
		if h.Key != workload.SiteHeader {
			continue
		}
		switch {
		case h.Value == nil:
			reason = "null"
		case !siteID.Match(h.Value):
			reason = "malformed"
		default:
			reason, site = "", string(h.Value)
		}
	}
	route := otherRoute
	if reason != "" || site == "US" {
		route = homeRoute
	}
	c.Producer.Produce(ctx, rec, func(a workload.Ack, err error) {
		if err == nil {
			c.mu.Lock()
			c.route[id] = route
			if reason != "" {
				c.bad[reason]++
				if c.firstBad == 0 || id < c.firstBad {
					c.firstBad, c.firstReason = id, fmt.Sprintf("%s header, at %s/%d@%d", reason, rec.Topic, a.Partition, a.Offset)
				}
			}
			c.mu.Unlock()
		}
		done(a, err)
	})
}

// checkRoutes reads every object under each route back and checks each
// record is under the route its header calls for. A record the checker
// found lost is not counted again here.
func checkRoutes(ctx context.Context, r *harness.Run, c *siteCensus, res checker.Result) error {
	misrouted, found := 0, map[string]int{}
	var first []uint64
	for _, route := range []string{homeRoute, otherRoute} {
		ids, err := storedIDs(ctx, r, route+"/")
		if err != nil {
			return err
		}
		found[route] = len(ids)
		for _, id := range ids {
			if want, ok := c.route[id]; ok && want != route {
				misrouted++
				if len(first) < 10 {
					first = append(first, id)
				}
			}
		}
	}
	r.Logf("routes: %d records under %s/, %d under %s/ (checker: %d found in all)", found[homeRoute], homeRoute, found[otherRoute], otherRoute, res.FoundRecords)
	if misrouted > 0 {
		r.ViolationOf(harness.Misrouted, "%d records are under the wrong route for their wm-site-id header (first IDs %v)", misrouted, first)
	}
	return nil
}

// checkExceptions compares the filter's exceptions metric with the bad
// headers the producer had acked, reason by reason. The metric is the
// filter's own account: it is reported, never judged (the routes in the
// bucket are what is judged, see checkRoutes).
func checkExceptions(r *harness.Run, c *siteCensus, counted map[string]int) {
	var off []string
	for _, reason := range []string{headerfilter.ReasonAbsent, headerfilter.ReasonNull, headerfilter.ReasonMalformed} {
		if counted[reason] != c.bad[reason] {
			off = append(off, fmt.Sprintf("%s %d of %d", reason, counted[reason], c.bad[reason]))
		}
	}
	r.Logf("pipechaos_filter_exceptions_total: absent %d, null %d, malformed %d",
		counted[headerfilter.ReasonAbsent], counted[headerfilter.ReasonNull], counted[headerfilter.ReasonMalformed])
	if len(off) > 0 {
		r.Logf("note: the filter's exceptions metric does not match the bad headers produced (counted of produced: %s): a monitor on it would not have seen them", strings.Join(off, ", "))
	}
}

// drainedOrStalled polls the group's lag on topic (records past its
// commits) until it is zero, until it has not moved for stall, or until
// timeout. It returns the last lag seen (-1: never read) and whether the
// commits stalled.
func drainedOrStalled(ctx context.Context, cl *kgo.Client, group, topic string, stall, timeout time.Duration) (lag int64, stalled bool) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lag, since := -1, time.Now()
	probe := sampler.GroupLag(cl, group, topic)
	for {
		probe(ctx, func(metric string, _ map[string]string, v float64) {
			if metric == "lag_total" && int64(v) != lag {
				lag, since = int64(v), time.Now()
			}
		})
		switch {
		case lag == 0:
			return 0, false
		case lag > 0 && time.Since(since) >= stall:
			return lag, true
		}
		select {
		case <-ctx.Done():
			return lag, false
		case <-tick.C:
		}
	}
}

// checkLag reads the sampled group lag of topic from the history: the peak
// and the last sample. Lag that is still there at the end never came down.
func checkLag(r *harness.Run, topic string) {
	samples := series(r.History.Events(), "lag_total", map[string]string{"topic": topic})
	if len(samples) == 0 {
		r.Inconclusive("the lag of group %s on %s was never sampled", nullHeadersGroup, topic)
		return
	}
	peak, last := samples.peak(), samples[len(samples)-1]
	if peak.At.IsZero() {
		peak = last
	}
	r.Metric("lag_peak", peak.Value)
	r.Metric("lag_end", last.Value)
	r.Logf("lag (records past the group's commits): peaked at %.0f (+%s), %.0f at the last sample (+%s)", peak.Value, since(r, peak.At), last.Value, since(r, last.At))
	if last.Value > 0 {
		r.ViolationOf(harness.NotDrained, "consumer lag grew to %.0f records and never came down: still %.0f at the last sample, +%s into the run", peak.Value, last.Value, since(r, last.At))
	}
}

// checkWritesContinued finds the last object the sink wrote and the acked
// records produced after it: a sink that stops writing while records keep
// arriving has stopped, whatever it says. A record acked just after the
// last write may still be in it (the sink can read a record before its
// producer hears the ack), so this is a finding only when the checker found
// records missing too.
func checkWritesContinued(r *harness.Run, res checker.Result) {
	events := r.History.Events()
	var lastWrite time.Time
	objects := 0
	for _, e := range events {
		if e.Type == history.SinkWrite {
			objects++
			lastWrite = e.At
		}
	}
	var after []uint64
	for _, e := range events {
		if e.Type == history.Produce && e.Outcome == history.Acked && e.At.After(lastWrite) {
			after = append(after, e.RecordID)
		}
	}
	slices.Sort(after)
	switch {
	case objects == 0:
		r.ViolationOf(harness.NotDrained, "the sink never wrote an object, while the producer had %d records acked", len(after))
	case res.Lost > 0 && len(after) > 0:
		r.ViolationOf(harness.NotDrained, "no object was written after +%s: the producer had %d more records acked after that (IDs %d to %d)",
			since(r, lastWrite), len(after), after[0], after[len(after)-1])
	default:
		r.Logf("the sink wrote %d objects, the last at +%s", objects, since(r, lastWrite))
	}
}
