package httpfault

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Opt configures a Layer.
type Opt func(*config)

type config struct {
	seed      int64
	errorBody func(Fault, *http.Request) (string, []byte)
}

// Seed seeds the draw that decides which requests a fault with a
// Probability affects; the same seed and the same request sequence give the
// same faulted requests. Default 1.
func Seed(seed int64) Opt { return func(c *config) { c.seed = seed } }

// ErrorBody sets the function that renders the body of a Status fault, so
// the layer answers in the dialect of the service behind it (S3ErrorBody,
// RegistryErrorBody). Default: a plain-text line naming the status.
func ErrorBody(fn func(f Fault, r *http.Request) (contentType string, body []byte)) Opt {
	return func(c *config) { c.errorBody = fn }
}

// Layer is an http.Handler that forwards to the next handler unless the
// active fault says otherwise. It implements the harness's env.HTTPFaults. All methods are
// safe for concurrent use.
type Layer struct {
	next      http.Handler
	errorBody func(Fault, *http.Request) (string, []byte)
	closeIdle func() // proxy transport, nil for New

	mu     sync.Mutex
	fault  Fault
	active bool
	healed chan struct{} // closed when the active fault is healed or replaced
	rng    *rand.Rand
	stats  Stats

	watchers map[int]func(Exchange)
	nextW    int
}

// New returns a layer in front of next with no active fault.
func New(next http.Handler, opts ...Opt) *Layer {
	c := config{seed: 1, errorBody: plainErrorBody}
	for _, o := range opts {
		o(&c)
	}
	if c.errorBody == nil {
		c.errorBody = plainErrorBody
	}
	return &Layer{
		next:      next,
		errorBody: c.errorBody,
		healed:    make(chan struct{}),
		rng:       rand.New(rand.NewPCG(uint64(c.seed), 0x70697065636861)), //nolint:gosec // fault draws, not secrets
		stats:     Stats{ByMethod: map[string]int64{}},
	}
}

// Inject replaces the active fault. Requests held by the previous fault
// (Hang, Latency) are released and proceed normally.
func (l *Layer) Inject(f Fault) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.healed)
	l.healed = make(chan struct{})
	l.fault = f
	l.active = true
}

// Heal removes the active fault. Held requests are released and proceed
// normally.
func (l *Layer) Heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.active {
		return
	}
	close(l.healed)
	l.healed = make(chan struct{})
	l.fault = Fault{}
	l.active = false
}

// Stats returns a copy of the counters.
func (l *Layer) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.ByMethod = make(map[string]int64, len(l.stats.ByMethod))
	for m, n := range l.stats.ByMethod {
		s.ByMethod[m] = n
	}
	return s
}

// Observe calls fn after every request the layer completed (answered,
// faulted, dropped, or abandoned by its client), until stop is called. fn
// runs on the request's goroutine after the answer went out, so it must not
// block. This is the layer's request log: what a service behind it was
// asked to do and what it answered, seen from outside.
func (l *Layer) Observe(fn func(Exchange)) (stop func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.watchers == nil {
		l.watchers = map[int]func(Exchange){}
	}
	id := l.nextW
	l.nextW++
	l.watchers[id] = fn
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.watchers, id)
	}
}

// observed hands x to every watcher.
func (l *Layer) observed(x Exchange) {
	l.mu.Lock()
	fns := make([]func(Exchange), 0, len(l.watchers))
	for _, fn := range l.watchers {
		fns = append(fns, fn)
	}
	l.mu.Unlock()
	for _, fn := range fns {
		fn(x)
	}
}

// ServeHTTP applies the active fault to r, or forwards it.
func (l *Layer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, matched, healed := l.admit(r)

	x := Exchange{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Start: time.Now(), Faulted: matched}
	cw := &countingWriter{ResponseWriter: w, layer: l, x: &x}
	var in *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		in = &countingBody{ReadCloser: r.Body, layer: l}
		r.Body = in
	}
	defer func() {
		x.End = time.Now()
		if in != nil {
			x.BytesIn = in.n.Load()
		}
		l.observed(x)
	}()

	if matched && (f.Latency > 0 || f.Hang) && r.Body != nil && r.Body != http.NoBody {
		// net/http notices a client that hangs up only once the request
		// body has been read to the end, so read it before holding the
		// request; the held request then ends when the client gives up.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // the client is gone
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if matched {
		if f.Latency > 0 {
			t := time.NewTimer(f.Latency)
			select {
			case <-t.C:
			case <-healed:
				t.Stop()
			case <-r.Context().Done():
				t.Stop()
				return // the client is gone; nobody reads an answer
			}
		}
		if f.Hang {
			select {
			case <-healed:
			case <-r.Context().Done():
				return
			}
		}
		// A fault healed while the request was held no longer applies.
		select {
		case <-healed:
			matched = false
		default:
		}
	}
	if matched && f.Drop {
		drop(w)
		return
	}
	if matched && f.Status != 0 {
		ct, body := l.errorBody(f, r)
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", itoa(len(body)))
		cw.WriteHeader(f.Status)
		if r.Method != http.MethodHead {
			_, _ = cw.Write(body)
		}
		return
	}
	l.next.ServeHTTP(cw, r)
	if x.Status == 0 {
		x.Status = http.StatusOK // a handler that writes nothing answers 200
	}
}

// admit counts r and decides whether the active fault applies to it.
func (l *Layer) admit(r *http.Request) (f Fault, matched bool, healed <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Requests++
	l.stats.ByMethod[r.Method]++
	if !l.active || !methodMatches(l.fault.Methods, r.Method) {
		return Fault{}, false, nil
	}
	// Draw only for requests the fault could affect, so the sequence of
	// draws depends on the matching requests alone.
	if p := l.fault.Probability; p > 0 && p < 1 && l.rng.Float64() >= p {
		return Fault{}, false, nil
	}
	l.stats.Faulted++
	return l.fault, true, l.healed
}

func methodMatches(methods []string, m string) bool {
	if len(methods) == 0 {
		return true
	}
	for _, x := range methods {
		if strings.EqualFold(x, m) {
			return true
		}
	}
	return false
}

// drop closes the connection without an answer. HTTP/1 connections are
// hijacked and closed; where hijacking is impossible (HTTP/2), the handler
// aborts, which resets the stream.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func (l *Layer) addIn(n int) {
	l.mu.Lock()
	l.stats.BytesIn += int64(n)
	l.mu.Unlock()
}

func (l *Layer) addOut(n int) {
	l.mu.Lock()
	l.stats.BytesOut += int64(n)
	l.mu.Unlock()
}

func (l *Layer) add5xx() {
	l.mu.Lock()
	l.stats.Errors5xx++
	l.mu.Unlock()
}

// countingBody counts request body bytes as the server reads them.
type countingBody struct {
	io.ReadCloser
	layer *Layer
	n     atomic.Int64 // a proxy's transport reads the body on its own goroutine
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.layer.addIn(n)
		b.n.Add(int64(n))
	}
	return n, err
}

// countingWriter counts response body bytes and 5xx statuses. Unwrap lets
// http.ResponseController reach Flush and Hijack underneath.
type countingWriter struct {
	http.ResponseWriter
	layer       *Layer
	x           *Exchange
	wroteHeader bool
}

func (w *countingWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.wroteHeader = true
		w.x.Status = code
		if code >= 500 {
			w.layer.add5xx()
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	if n > 0 {
		w.layer.addOut(n)
		w.x.BytesOut += int64(n)
	}
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush is here for handlers that type-assert http.Flusher instead of using
// http.ResponseController (gofakes3 and httputil do the latter).
func (w *countingWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}
