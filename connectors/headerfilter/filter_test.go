package headerfilter

import (
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness/workload"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var _ s3sink.Transform = (*Filter)(nil)

// rec is a record with the given headers.
func rec(hs ...kgo.RecordHeader) *kgo.Record {
	return &kgo.Record{Topic: "audit", Partition: 1, Offset: 7, Headers: append([]kgo.RecordHeader{{Key: workload.IDHeader, Value: []byte("1")}}, hs...)}
}

func site(v string) kgo.RecordHeader {
	return kgo.RecordHeader{Key: workload.SiteHeader, Value: []byte(v)}
}

var nullSite = kgo.RecordHeader{Key: workload.SiteHeader, Value: nil}

// states are the header states of the incident, with the route the correct
// filter gives and the exception it counts.
var states = []struct {
	name   string
	r      *kgo.Record
	route  string
	reason string
}{
	{"US", rec(site("US")), "site=us", ""},
	{"CA", rec(site("CA")), "site=intl", ""},
	{"GB", rec(site("GB")), "site=intl", ""},
	{"absent", rec(), "site=us", ReasonAbsent},
	{"null", rec(nullSite), "site=us", ReasonNull},
	{"empty", rec(site("")), "site=us", ReasonMalformed},
	{"blanks", rec(site("  ")), "site=us", ReasonMalformed},
	{"lowercase", rec(site("us")), "site=us", ReasonMalformed},
	{"symbol", rec(site("u$")), "site=us", ReasonMalformed},
	{"not utf-8", rec(site("\xff\xfe")), "site=us", ReasonMalformed},
	{"too long", rec(site("US-EAST-1-but-longer-than-any-site-id")), "site=us", ReasonMalformed},
	{"last header wins", rec(nullSite, site("MX")), "site=intl", ""},
	{"last header null", rec(site("US"), nullSite), "site=us", ReasonNull},
}

func TestFilterRoutesEveryHeaderState(t *testing.T) {
	for _, tc := range states {
		t.Run(tc.name, func(t *testing.T) {
			var logged []string
			f, err := New(Config{Logf: func(format string, args ...any) { logged = append(logged, format) }})
			require.NoError(t, err)
			rt, err := f.Apply(tc.r)
			require.NoError(t, err, "the correct filter never fails")
			require.Equal(t, s3sink.Routed{Route: tc.route}, rt)
			want := map[string]int{ReasonAbsent: 0, ReasonNull: 0, ReasonMalformed: 0}
			if tc.reason != "" {
				want[tc.reason] = 1
				require.Len(t, logged, 1)
			}
			require.Equal(t, want, f.Exceptions())
		})
	}
}

func TestFilterCountsEveryExceptionAndLogsTheFirst(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	f, err := New(Config{Logf: func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, format)
	}})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				for _, tc := range states {
					_, err := f.Apply(tc.r)
					require.NoError(t, err)
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, map[string]int{ReasonAbsent: 800, ReasonNull: 1600, ReasonMalformed: 4800}, f.Exceptions())
	require.Len(t, logged, 3, "one line per reason, the metric counts the rest")
}

func TestBuggyFilterRoutesValidHeaders(t *testing.T) {
	f, err := NewBuggy(Config{})
	require.NoError(t, err)
	for _, tc := range states {
		if tc.reason != "" {
			continue
		}
		rt, err := f.Apply(tc.r)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.route, rt.Route, tc.name)
	}
}

func TestBuggyFilterPanicsOnAbsentAndNullHeaders(t *testing.T) {
	f, err := NewBuggy(Config{})
	require.NoError(t, err)
	for _, r := range []*kgo.Record{rec(), rec(nullSite), rec(site("US"), nullSite)} {
		require.PanicsWithError(t, "runtime error: invalid memory address or nil pointer dereference", func() { _, _ = f.Apply(r) })
	}
	// A malformed value is merely "not US": routed away, no exception counted.
	rt, err := f.Apply(rec(site("u$")))
	require.NoError(t, err)
	require.Equal(t, "site=intl", rt.Route)
	require.Equal(t, map[string]int{ReasonAbsent: 0, ReasonNull: 0, ReasonMalformed: 0}, f.Exceptions())
}

func TestConfigValidateNamesEveryProblem(t *testing.T) {
	_, err := New(Config{HomeSite: "usa", HomeRoute: "/", OtherRoute: "/"})
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, `home site "usa" is not a site id`)
	require.Contains(t, msg, `route "/" is empty`)
	require.Contains(t, msg, `home and other routes are both "/"`)
	_, err = NewBuggy(Config{HomeRoute: "same", OtherRoute: "same"})
	require.ErrorContains(t, err, "give them different prefixes")
}

func TestMetricsEndpoint(t *testing.T) {
	extra := prometheus.NewRegistry()
	f, err := New(Config{Process: "audit-filter", Registerer: extra})
	require.NoError(t, err)
	for _, r := range []*kgo.Record{rec(site("US")), rec(site("CA")), rec(), rec(nullSite), rec(nullSite), rec(site("u$"))} {
		_, err := f.Apply(r)
		require.NoError(t, err)
	}
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := string(body)
	for _, line := range []string{
		"# TYPE pipechaos_filter_exceptions_total counter",
		`pipechaos_filter_exceptions_total{process="audit-filter",reason="absent"} 1`,
		`pipechaos_filter_exceptions_total{process="audit-filter",reason="null"} 2`,
		`pipechaos_filter_exceptions_total{process="audit-filter",reason="malformed"} 1`,
		`pipechaos_filter_routed_total{process="audit-filter",route="site=us"} 5`,
		`pipechaos_filter_routed_total{process="audit-filter",route="site=intl"} 1`,
	} {
		require.Contains(t, out, line+"\n")
	}
	mfs, err := extra.Gather()
	require.NoError(t, err)
	require.Len(t, mfs, 2, "the extra registerer gets the same metrics")

	// A second filter with the same process cannot share the registerer.
	_, err = New(Config{Process: "audit-filter", Registerer: extra})
	require.ErrorContains(t, err, `is another filter with process "audit-filter" registered there?`)
	require.True(t, strings.HasPrefix(err.Error(), "headerfilter: "))
}
