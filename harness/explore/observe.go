package explore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/pipechaos/pipechaos/fakes/httpfault"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/history"
)

// putRec is one PUT the store tap saw.
type putRec struct {
	key       string
	partition int32 // -1 when the object name does not say
	start     int64 // first offset, -1 when the name does not say
	began     time.Time
	ended     time.Time // zero while in flight
	status    int       // 0: the client went away before an answer
	records   int       // records in the body of a 2xx PUT (0 if undecodable)
}

func (p *putRec) ok() bool { return p.status >= 200 && p.status < 300 }

// commitRec is one advance of a partition's committed offset seen at the
// coordinator.
type commitRec struct {
	at        time.Time
	partition int32
	offset    int64
}

// observer is what the harness sees of the pipeline from outside the sink:
// the store's PUTs (through a tap in front of the store), the group's
// committed offsets, end offsets and state at the coordinator, and the
// produce history. Triggers and coverage read it.
type observer struct {
	h     *history.History
	group string
	topic string

	mu           sync.Mutex
	puts         []*putRec
	commits      []commitRec
	committed    map[int32]int64
	lastCommit   time.Time // the last advance on any partition
	ends         map[int32]int64
	state        string
	generation   string
	seenGroup    bool
	genChanged   time.Time
	producerDone bool
	changed      chan struct{}
}

func newObserver(h *history.History, topic, group string) *observer {
	return &observer{h: h, topic: topic, group: group, committed: map[int32]int64{}, ends: map[int32]int64{},
		changed: make(chan struct{})}
}

// notifyLocked wakes every trigger waiting for a change.
func (o *observer) notifyLocked() {
	close(o.changed)
	o.changed = make(chan struct{})
}

func (o *observer) changes() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changed
}

func (o *observer) setProducerDone() {
	o.mu.Lock()
	o.producerDone = true
	o.notifyLocked()
	o.mu.Unlock()
}

// parseKey reads partition and start offset from an object name that
// follows the Kafka Connect convention <topic>+<partition>+<start>.<ext>.
func parseKey(key string) (int32, int64) {
	base := path.Base(key)
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	f := strings.Split(base, "+")
	if len(f) >= 3 {
		p, err1 := strconv.ParseInt(f[len(f)-2], 10, 32)
		s, err2 := strconv.ParseInt(f[len(f)-1], 10, 64)
		if err1 == nil && err2 == nil && p >= 0 && s >= 0 {
			return int32(p), s
		}
	}
	return -1, -1
}

func (o *observer) putStarted(key string) *putRec {
	p, s := parseKey(key)
	rec := &putRec{key: key, partition: p, start: s, began: time.Now()}
	o.mu.Lock()
	o.puts = append(o.puts, rec)
	o.notifyLocked()
	o.mu.Unlock()
	return rec
}

func (o *observer) putEnded(rec *putRec, status int, body []byte) {
	n := 0
	if status >= 200 && status < 300 {
		_ = checker.DecodeObject(rec.key, bytes.NewReader(body), func(checker.Found) { n++ })
		// The harness writes the sink-write event, from what the store
		// answered: the sink's own account is never consulted.
		o.h.Wrote("store", rec.key, n, int64(len(body)))
	}
	o.mu.Lock()
	rec.ended, rec.status, rec.records = time.Now(), status, n
	o.notifyLocked()
	o.mu.Unlock()
}

// tap is an HTTP reverse proxy in front of the store that tells the
// observer when each PUT starts and what the store answered. The sink is
// given the tap's address; faults are still injected at the store's own
// fault layer behind it.
type tap struct {
	srv *httpfault.Server
	tr  *http.Transport
}

func startTap(o *observer, storeEndpoint, bucket string) (*tap, error) {
	target := &url.URL{Scheme: "http", Host: storeEndpoint}
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // SigV4 signs the Host header
		},
		Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			// The store refused or dropped the connection: do the same to
			// the client rather than answer for the store.
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
				return
			}
			panic(http.ErrAbortHandler)
		},
	}
	prefix := "/" + bucket + "/"
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, isObject := strings.CutPrefix(r.URL.Path, prefix)
		if r.Method != http.MethodPut || !isObject || key == "" {
			rp.ServeHTTP(w, r)
			return
		}
		rec := o.putStarted(key)
		var body bytes.Buffer
		if r.Body != nil {
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.TeeReader(r.Body, &body), r.Body}
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() { o.putEnded(rec, sw.status, body.Bytes()) }()
		rp.ServeHTTP(sw, r)
	})
	srv, err := httpfault.Serve(h, "")
	if err != nil {
		return nil, fmt.Errorf("start the store tap: %w", err)
	}
	return &tap{srv: srv, tr: tr}, nil
}

func (t *tap) addr() string { return t.srv.Addr() }

func (t *tap) close() {
	_ = t.srv.Close()
	t.tr.CloseIdleConnections()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// poll watches the coordinator until ctx is done: committed offsets every
// 10ms, the group's state and the topic's end offsets every 20ms.
func (o *observer) poll(ctx context.Context, adm *kadm.Client) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		offs, err := adm.FetchOffsets(qctx, o.group)
		if err == nil {
			o.sawOffsets(offs)
		}
		if i%2 == 0 {
			if ends, err := adm.ListEndOffsets(qctx, o.topic); err == nil && ends.Error() == nil {
				o.mu.Lock()
				ends.Each(func(lo kadm.ListedOffset) { o.ends[lo.Partition] = lo.Offset })
				o.mu.Unlock()
			}
			if gs, err := adm.DescribeGroups(qctx, o.group); err == nil {
				if g, ok := gs[o.group]; ok && g.Err == nil {
					o.sawGroup(g.State, g.Members)
				}
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (o *observer) sawOffsets(offs kadm.OffsetResponses) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	advanced := false
	offs.Each(func(r kadm.OffsetResponse) {
		if r.Topic != o.topic || r.Err != nil || r.At < 0 {
			return
		}
		if r.At > o.committed[r.Partition] {
			o.committed[r.Partition] = r.At
			o.commits = append(o.commits, commitRec{at: now, partition: r.Partition, offset: r.At})
			o.lastCommit = now
			advanced = true
		}
	})
	if advanced {
		o.notifyLocked()
	}
}

func (o *observer) sawGroup(state string, members []kadm.DescribedGroupMember) {
	// kadm does not surface the generation; a change in the member list
	// marks a new one.
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.MemberID
	}
	sort.Strings(ids)
	gen := strings.Join(ids, ",")
	o.mu.Lock()
	defer o.mu.Unlock()
	if state != o.state || gen != o.generation {
		if o.seenGroup && gen != o.generation {
			o.genChanged = time.Now()
		}
		o.state, o.generation, o.seenGroup = state, gen, true
		o.notifyLocked()
	}
}

// lagLocked is end offsets minus committed offsets, over the topic.
func (o *observer) lagLocked() int64 {
	var lag int64
	for p, end := range o.ends {
		if c := o.committed[p]; end > c {
			lag += end - c
		}
	}
	return lag
}

// uncommittedLocked reports whether a 2xx PUT's records are still
// uncommitted by the group.
func (o *observer) uncommittedLocked(p *putRec) bool {
	if !p.ok() {
		return false
	}
	if p.partition >= 0 {
		return o.committed[p.partition] <= p.start
	}
	return !o.lastCommit.After(p.ended)
}

// phase is the observer's reading of one moment.
type phase struct {
	active map[Phase]bool
	acked  int
	lag    int64
	// put is the PUT a kill or a fault landed on, for the narrative: the
	// one in flight (PutInFlight, CommitAhead) or the last uncommitted one.
	put       *putRec
	inflight  int
	producing bool // the workload has not ended
}

const rebalanceAfterglow = 200 * time.Millisecond

// now reads the current phases.
func (o *observer) now() phase {
	acked := o.h.Count(history.Produce, history.Acked)
	t := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	ph := phase{active: map[Phase]bool{}, acked: acked, lag: o.lagLocked(), producing: !o.producerDone}
	if acked > 0 && !o.producerDone {
		ph.active[Acks] = true
	}
	var lastUncommitted, inflight, ahead *putRec
	for _, p := range o.puts {
		switch {
		case p.ended.IsZero():
			ph.inflight++
			inflight = p
			if p.partition >= 0 && o.committed[p.partition] > p.start {
				ahead = p
			}
		case o.uncommittedLocked(p):
			lastUncommitted = p
		}
	}
	// ph.put is a copy: the record goes on changing under o.mu.
	if inflight != nil {
		ph.active[PutInFlight] = true
		c := *inflight
		ph.put = &c
	}
	if lastUncommitted != nil {
		ph.active[PutUncommitted] = true
		c := *lastUncommitted
		ph.put = &c
	}
	if ahead != nil {
		ph.active[CommitAhead] = true
		c := *ahead
		ph.put = &c
	}
	if o.state == "PreparingRebalance" || o.state == "CompletingRebalance" ||
		(!o.genChanged.IsZero() && t.Sub(o.genChanged) < rebalanceAfterglow) {
		ph.active[Rebalance] = true
	}
	if o.producerDone && ph.lag > 0 {
		ph.active[Drain] = true
	}
	return ph
}

// snapshot copies what the observer recorded, for the run's result.
func (o *observer) snapshot() ([]putRec, []commitRec) {
	o.mu.Lock()
	defer o.mu.Unlock()
	puts := make([]putRec, len(o.puts))
	for i, p := range o.puts {
		puts[i] = *p
	}
	return puts, append([]commitRec(nil), o.commits...)
}

// drained reports whether the group committed every record, and the lag.
func (o *observer) drained() (bool, int64, map[int32]int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	lag := o.lagLocked()
	per := map[int32]int64{}
	for p, end := range o.ends {
		per[p] = end - o.committed[p]
	}
	return len(o.ends) > 0 && lag == 0, lag, per
}

// waitFor blocks until cond holds (checked at every change and every 10ms)
// or ctx is done.
func (o *observer) waitFor(ctx context.Context, cond func(phase) bool) (phase, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ch := o.changes()
		if ph := o.now(); cond(ph) {
			return ph, nil
		}
		select {
		case <-ctx.Done():
			return phase{}, ctx.Err()
		case <-ch:
		case <-tick.C:
		}
	}
}
