package headerfilter

import "github.com/twmb/franz-go/pkg/kgo"

// NewBuggy builds the filter of incident 1. A GCS sink connector routed
// compliance audit records with a transform that did
//
//	header.value().toString().equals("US")
//
// Legacy records carried no wm-site-id header: the first one threw a
// NullPointerException, and with errors.tolerance=none the task failed and
// the connector stopped consuming every record — about six hours of audit
// data stopped flowing while the topic backed up, and no alert fired.
//
// The defect is the line marked BUG in route: it dereferences the header
// and its value without a check. An absent header is a nil *header, a null
// one a nil value: both panic with a nil pointer dereference. A malformed
// value is simply "not US" and goes to the other route. Records with a valid
// header are routed exactly as New's filter routes them.
func NewBuggy(cfg Config) (*Filter, error) {
	f, err := newFilter(cfg)
	if err != nil {
		return nil, err
	}
	f.route = f.unchecked
	return f, nil
}

func (f *Filter) unchecked(r *kgo.Record) string {
	h := lastHeader(r, f.cfg.Header)
	if *h.Value() == f.cfg.HomeSite { // BUG: h is nil when absent, h.Value() nil when null.
		return f.cfg.HomeRoute
	}
	return f.cfg.OtherRoute
}
