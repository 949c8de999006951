package httpfault_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/fakes/httpfault"
)

// backend answers "hello" after reading the whole request body and counts
// the requests that reached it.
type backend struct{ calls atomic.Int64 }

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.calls.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("X-Host-Seen", r.Host)
	_, _ = io.WriteString(w, "hello")
}

// serve puts a layer over a backend on a Server and returns both with a
// private client; everything is closed at cleanup.
func serve(t *testing.T, opts ...httpfault.Opt) (*httpfault.Layer, *backend, *httpfault.Server, *http.Client) {
	t.Helper()
	b := &backend{}
	l := httpfault.New(b, opts...)
	s, err := httpfault.Serve(l, "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return l, b, s, client(t)
}

func client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func do(ctx context.Context, c *http.Client, method, u, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

func TestPassThroughCountsCost(t *testing.T) {
	l, b, s, c := serve(t)
	code, body, err := do(t.Context(), c, http.MethodPut, s.URL()+"/k", "12345")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	assert.Equal(t, "hello", body)
	code, _, err = do(t.Context(), c, http.MethodGet, s.URL()+"/k", "")
	require.NoError(t, err)
	assert.Equal(t, 200, code)

	st := l.Stats()
	assert.Equal(t, int64(2), st.Requests)
	assert.Equal(t, map[string]int64{"PUT": 1, "GET": 1}, st.ByMethod)
	assert.Equal(t, int64(5), st.BytesIn)
	assert.Equal(t, int64(10), st.BytesOut)
	assert.Zero(t, st.Faulted)
	assert.Zero(t, st.Errors5xx)
	assert.Equal(t, int64(2), b.calls.Load())
}

func TestStatusFaultAnswersInTheServiceDialect(t *testing.T) {
	tests := []struct {
		name     string
		opt      httpfault.Opt
		fault    httpfault.Fault
		wantType string
		wantBody string
	}{
		{"plain", nil, httpfault.Fault{Status: 503}, "text/plain; charset=utf-8", "pipechaos injected fault: 503 Service Unavailable\n"},
		{"s3 default code", httpfault.ErrorBody(httpfault.S3ErrorBody), httpfault.Fault{Status: 503}, "application/xml", "<Code>SlowDown</Code>"},
		{"s3 explicit code", httpfault.ErrorBody(httpfault.S3ErrorBody), httpfault.Fault{Status: 500, Code: "InternalError"}, "application/xml", "<Error><Code>InternalError</Code><Message>pipechaos injected fault: 500 Internal Server Error</Message><Resource>/bucket/key</Resource>"},
		{"registry default code", httpfault.ErrorBody(httpfault.RegistryErrorBody), httpfault.Fault{Status: 503}, "application/vnd.schemaregistry.v1+json", `{"error_code":50301,"message":"pipechaos injected fault: 503 Service Unavailable"}`},
		{"registry explicit code", httpfault.ErrorBody(httpfault.RegistryErrorBody), httpfault.Fault{Status: 500, Code: "50002"}, "application/vnd.schemaregistry.v1+json", `"error_code":50002`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []httpfault.Opt
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			l, b, s, c := serve(t, opts...)
			l.Inject(tt.fault)
			resp, err := c.Get(s.URL() + "/bucket/key")
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			assert.Equal(t, tt.fault.Status, resp.StatusCode)
			assert.Equal(t, tt.wantType, resp.Header.Get("Content-Type"))
			assert.Contains(t, string(body), tt.wantBody)
			assert.Zero(t, b.calls.Load(), "a faulted request must not reach the backend")
			st := l.Stats()
			assert.Equal(t, int64(1), st.Faulted)
			assert.Equal(t, int64(1), st.Errors5xx)
			assert.Equal(t, int64(len(body)), st.BytesOut)

			l.Heal()
			code, _, err := do(t.Context(), c, http.MethodGet, s.URL()+"/bucket/key", "")
			require.NoError(t, err)
			assert.Equal(t, 200, code)
		})
	}
}

func TestMethodsRestrictTheFault(t *testing.T) {
	l, b, s, c := serve(t)
	l.Inject(httpfault.Fault{Status: 500, Methods: []string{"put"}})
	code, _, err := do(t.Context(), c, http.MethodGet, s.URL(), "")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	code, _, err = do(t.Context(), c, http.MethodPut, s.URL(), "x")
	require.NoError(t, err)
	assert.Equal(t, 500, code)
	assert.Equal(t, int64(1), b.calls.Load())
	assert.Equal(t, int64(1), l.Stats().Faulted)
}

func TestLatencyDelaysThenForwards(t *testing.T) {
	l, b, s, c := serve(t)
	l.Inject(httpfault.Fault{Latency: 20 * time.Millisecond})
	code, body, err := do(t.Context(), c, http.MethodGet, s.URL(), "")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	assert.Equal(t, "hello", body)
	assert.Equal(t, int64(1), b.calls.Load())
	assert.Equal(t, int64(1), l.Stats().Faulted)
}

func TestLatencyIsAbortedByClientCancel(t *testing.T) {
	l, b, s, c := serve(t)
	l.Inject(httpfault.Fault{Latency: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, _, err := do(ctx, c, http.MethodGet, s.URL(), "")
		errc <- err
	}()
	eventually(t, "the request to be held", func() bool { return l.Stats().Faulted == 1 })
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	// Stop waits for handlers: it returns only once the delayed handler
	// noticed the cancellation, so the backend check below is not racy.
	require.NoError(t, s.Stop())
	assert.Zero(t, b.calls.Load())
}

func TestHangHealedMidRequestProceeds(t *testing.T) {
	l, b, s, c := serve(t)
	l.Inject(httpfault.Fault{Hang: true})
	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, body, err := do(t.Context(), c, http.MethodPost, s.URL(), "payload")
		done <- result{code, body, err}
	}()
	eventually(t, "the request to hang", func() bool { return l.Stats().Faulted == 1 })
	select {
	case r := <-done:
		t.Fatalf("request finished while hanging: %+v", r)
	default:
	}
	assert.Zero(t, b.calls.Load())
	l.Heal()
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, 200, r.code)
	assert.Equal(t, "hello", r.body)
	assert.Equal(t, int64(1), b.calls.Load())
	assert.Equal(t, int64(len("payload")), l.Stats().BytesIn)
}

func TestHangUntilClientGivesUp(t *testing.T) {
	l, b, s, c := serve(t)
	l.Inject(httpfault.Fault{Hang: true})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		// With a body: net/http notices a hang-up only after the body is read.
		_, _, err := do(ctx, c, http.MethodPut, s.URL(), "payload")
		errc <- err
	}()
	eventually(t, "the request to hang", func() bool { return l.Stats().Faulted == 1 })
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	// The held handler ends on its own when the client hangs up, before
	// any Stop.
	eventually(t, "the held handler to notice", func() bool { return s.InFlight() == 0 })
	assert.Zero(t, b.calls.Load())
}

func TestDropClosesWithoutAnswer(t *testing.T) {
	l, b, s, c := serve(t)
	l.Inject(httpfault.Fault{Drop: true})
	// POST is not retried by net/http on a dropped connection.
	_, _, err := do(t.Context(), c, http.MethodPost, s.URL(), "x")
	require.Error(t, err)
	var uerr *url.Error
	require.ErrorAs(t, err, &uerr)
	assert.True(t, errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset"), "got %v", err)
	assert.Zero(t, b.calls.Load())
	st := l.Stats()
	assert.Equal(t, int64(1), st.Faulted)
	assert.Zero(t, st.BytesOut)

	l.Heal()
	code, _, err := do(t.Context(), c, http.MethodPost, s.URL(), "x")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
}

func TestProbabilityIsDeterministicGivenSeed(t *testing.T) {
	pattern := func(seed int64) []bool {
		l, _, s, c := serve(t, httpfault.Seed(seed))
		l.Inject(httpfault.Fault{Status: 503, Probability: 0.3})
		var out []bool
		for range 200 {
			code, _, err := do(t.Context(), c, http.MethodGet, s.URL(), "")
			require.NoError(t, err)
			out = append(out, code == 503)
		}
		n := 0
		for _, f := range out {
			if f {
				n++
			}
		}
		require.Equal(t, int64(n), l.Stats().Faulted)
		// 200 draws at p=0.3: anything outside 20..100 means the draw is broken.
		require.True(t, n > 20 && n < 100, "faulted %d of 200 at p=0.3", n)
		return out
	}
	a, b := pattern(42), pattern(42)
	assert.Equal(t, a, b, "same seed, same faulted requests")
	assert.NotEqual(t, a, pattern(7), "another seed, another pattern")
}

func TestInjectReplacesAndReleasesHeld(t *testing.T) {
	l, _, s, c := serve(t)
	l.Inject(httpfault.Fault{Hang: true})
	done := make(chan int, 1)
	go func() {
		code, _, _ := do(t.Context(), c, http.MethodGet, s.URL(), "")
		done <- code
	}()
	eventually(t, "the request to hang", func() bool { return l.Stats().Faulted == 1 })
	l.Inject(httpfault.Fault{Status: 500})
	assert.Equal(t, 200, <-done, "a request held by a replaced fault proceeds")
	code, _, err := do(t.Context(), c, http.MethodGet, s.URL(), "")
	require.NoError(t, err)
	assert.Equal(t, 500, code)
}

func TestStatsIsACopy(t *testing.T) {
	l, _, s, c := serve(t)
	_, _, err := do(t.Context(), c, http.MethodGet, s.URL(), "")
	require.NoError(t, err)
	st := l.Stats()
	st.ByMethod["GET"] = 100
	assert.Equal(t, int64(1), l.Stats().ByMethod["GET"])
}

func TestProxyForwardsKeepsHostAndFaults(t *testing.T) {
	b := &backend{}
	up, err := httpfault.Serve(b, "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, up.Close()) })
	target, err := url.Parse(up.URL())
	require.NoError(t, err)

	l := httpfault.NewProxy(target, httpfault.ErrorBody(httpfault.S3ErrorBody))
	t.Cleanup(l.CloseIdleConnections)
	front, err := httpfault.Serve(l, "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, front.Close()) })
	c := client(t)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, front.URL()+"/bucket/key", bytes.NewReader([]byte("abc")))
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "hello", string(body))
	assert.Equal(t, front.Addr(), resp.Header.Get("X-Host-Seen"), "the signed Host header must survive the proxy")
	assert.Equal(t, int64(3), l.Stats().BytesIn)

	l.Inject(httpfault.Fault{Status: 503, Methods: []string{"PUT"}})
	code, body2, err := do(t.Context(), c, http.MethodPut, front.URL()+"/bucket/key", "abc")
	require.NoError(t, err)
	assert.Equal(t, 503, code)
	assert.Contains(t, body2, "<Code>SlowDown</Code>")
	assert.Equal(t, int64(1), b.calls.Load())
	l.Heal()

	// The upstream goes down: the proxy answers 502, counted as a 5xx.
	require.NoError(t, up.Stop())
	code, body2, err = do(t.Context(), c, http.MethodGet, front.URL()+"/bucket/key", "")
	require.NoError(t, err)
	assert.Equal(t, 502, code)
	assert.Contains(t, body2, "<Code>BadGateway</Code>")
	assert.Equal(t, int64(1), l.Stats().Errors5xx-1, "one 503 fault and one 502")
	require.NoError(t, up.Start())
	code, _, err = do(t.Context(), c, http.MethodGet, front.URL()+"/bucket/key", "")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
}

// Observe sees every completed request with its path, status and body
// sizes, faulted or not, until it is stopped.
func TestObserveSeesEveryCompletedRequest(t *testing.T) {
	l, _, s, c := serve(t, httpfault.ErrorBody(httpfault.S3ErrorBody))
	var mu sync.Mutex
	var seen []httpfault.Exchange
	stop := l.Observe(func(x httpfault.Exchange) {
		mu.Lock()
		seen = append(seen, x)
		mu.Unlock()
	})
	code, _, err := do(t.Context(), c, http.MethodPut, s.URL()+"/bucket/a?partNumber=1", "12345")
	require.NoError(t, err)
	require.Equal(t, 200, code)
	l.Inject(httpfault.Fault{Status: 503, Methods: []string{"PUT"}})
	code, _, err = do(t.Context(), c, http.MethodPut, s.URL()+"/bucket/b", "xy")
	require.NoError(t, err)
	require.Equal(t, 503, code)
	l.Heal()
	stop()
	_, _, err = do(t.Context(), c, http.MethodGet, s.URL()+"/bucket/a", "")
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2, "a stopped observer sees nothing more")
	assert.Equal(t, "/bucket/a", seen[0].Path)
	assert.Equal(t, "partNumber=1", seen[0].Query)
	assert.Equal(t, 200, seen[0].Status)
	assert.Equal(t, int64(5), seen[0].BytesIn)
	assert.Equal(t, int64(5), seen[0].BytesOut)
	assert.False(t, seen[0].Faulted)
	assert.False(t, seen[0].End.Before(seen[0].Start))
	assert.Equal(t, 503, seen[1].Status)
	assert.True(t, seen[1].Faulted)
}
