package headerfilter

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors/s3sink"
)

// Config configures a Filter. Zero values take the default named in each
// field's comment.
type Config struct {
	// Header is the header records are routed on. Default "wm-site-id".
	Header string
	// HomeSite is the site id of the home route. Default "US".
	HomeSite string
	// HomeRoute is the route of HomeSite's records, and of every record
	// whose header is absent, null or malformed (the permissive default).
	// Default "site=us".
	HomeRoute string
	// OtherRoute is the route of every other valid site id. Default
	// "site=intl".
	OtherRoute string
	// Process names the filter in its metrics' "process" label. Default
	// "headerfilter".
	Process string
	// Registerer, if set, also gets the filter's metrics (they always live
	// on the filter's own registry, see Metrics).
	Registerer prometheus.Registerer
	// Logf receives one line for the first exception of each reason (the
	// metric counts all of them). Default: discarded.
	Logf func(format string, args ...any)
}

// SiteHeader is the routing header of incident 1, the default Header.
const SiteHeader = "wm-site-id"

func (c Config) withDefaults() Config {
	if c.Header == "" {
		c.Header = SiteHeader
	}
	if c.HomeSite == "" {
		c.HomeSite = "US"
	}
	if c.HomeRoute == "" {
		c.HomeRoute = "site=us"
	}
	if c.OtherRoute == "" {
		c.OtherRoute = "site=intl"
	}
	if c.Process == "" {
		c.Process = "headerfilter"
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// validate reports every problem with c (after defaults), one per line.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !ValidSite([]byte(c.HomeSite)) {
		bad("home site %q is not a site id: use two uppercase ASCII letters, like \"US\"", c.HomeSite)
	}
	for _, r := range []string{c.HomeRoute, c.OtherRoute} {
		if strings.Trim(r, "/") == "" {
			bad("route %q is empty: a route is an object key prefix like \"site=us\"", r)
		}
	}
	if strings.Trim(c.HomeRoute, "/") == strings.Trim(c.OtherRoute, "/") {
		bad("home and other routes are both %q: give them different prefixes", c.HomeRoute)
	}
	return errors.Join(errs...)
}

// Exception reasons, the "reason" label of pipechaos_filter_exceptions_total.
const (
	ReasonAbsent    = "absent"    // the record has no such header
	ReasonNull      = "null"      // the header is present with a null value
	ReasonMalformed = "malformed" // the value is not two uppercase ASCII letters
)

// Filter routes records by their site header. It is safe for concurrent use.
type Filter struct {
	cfg   Config
	m     *metrics
	route func(r *kgo.Record) string // the routing decision; see buggy.go

	logged sync.Map // reason → struct{}: first exception logged
}

// New validates cfg and builds the correct filter.
func New(cfg Config) (*Filter, error) {
	f, err := newFilter(cfg)
	if err != nil {
		return nil, err
	}
	f.route = f.permissive
	return f, nil
}

func newFilter(cfg Config) (*Filter, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("headerfilter: invalid config:\n%w", err)
	}
	m, err := newMetrics(cfg.Process, cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("headerfilter: %w", err)
	}
	return &Filter{cfg: cfg, m: m}, nil
}

// Apply routes r. It implements s3sink.Transform; the correct filter never
// returns an error.
func (f *Filter) Apply(r *kgo.Record) (s3sink.Routed, error) {
	route := f.route(r)
	f.m.routed.WithLabelValues(route).Inc()
	return s3sink.Routed{Route: route}, nil
}

// permissive is the correct decision: a header that cannot be routed takes
// the home route and is counted, never thrown.
func (f *Filter) permissive(r *kgo.Record) string {
	site, reason := Site(r, f.cfg.Header)
	switch {
	case reason != "":
		f.m.exceptions.WithLabelValues(reason).Inc()
		if _, seen := f.logged.LoadOrStore(reason, struct{}{}); !seen {
			f.cfg.Logf("headerfilter %s: first record whose %s header is %s (%s/%d@%d), routed to %s and counted in pipechaos_filter_exceptions_total",
				f.cfg.Process, f.cfg.Header, reason, r.Topic, r.Partition, r.Offset, f.cfg.HomeRoute)
		}
		return f.cfg.HomeRoute
	case site == f.cfg.HomeSite:
		return f.cfg.HomeRoute
	default:
		return f.cfg.OtherRoute
	}
}

// Site reads record r's site header: the value of the last header named
// key, and "" — or, when it cannot be routed, the reason: ReasonAbsent,
// ReasonNull or ReasonMalformed.
func Site(r *kgo.Record, key string) (site, reason string) {
	h := lastHeader(r, key)
	switch {
	case h == nil:
		return "", ReasonAbsent
	case h.Value() == nil:
		return "", ReasonNull
	case !ValidSite(h.value):
		return "", ReasonMalformed
	}
	return *h.Value(), ""
}

// ValidSite reports whether v is a site id: two uppercase ASCII letters.
func ValidSite(v []byte) bool {
	return len(v) == 2 && 'A' <= v[0] && v[0] <= 'Z' && 'A' <= v[1] && v[1] <= 'Z'
}

// header is a record header as Kafka Connect's Headers API hands it to a
// transform: lastHeader returns nil when the record has no header with
// the name, and Value returns nil for a header with a null value.
type header struct {
	key   string
	value []byte // nil: a null value (Kafka keeps nil and empty apart)
}

// lastHeader is Connect's headers.lastWithName(key).
func lastHeader(r *kgo.Record, key string) *header {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return &header{key: key, value: r.Headers[i].Value}
		}
	}
	return nil
}

// Value is the header's value as a string, nil for a null value.
func (h *header) Value() *string {
	if h.value == nil {
		return nil
	}
	s := string(h.value)
	return &s
}
