// Package headerfilter is a header router in the spirit of a Kafka Connect
// single message transform: it routes each record by its wm-site-id header,
// as an s3sink.Transform in the sink's chain. The home site's records
// (default "US") go to the home route ("site=us"); every other valid site id
// (two uppercase ASCII letters) goes to the other route ("site=intl").
//
// A record whose header is absent, null (present with no value) or
// malformed is routed to the home route — the permissive default — and
// counted in pipechaos_filter_exceptions_total{reason="absent|null|malformed"}.
// The filter never fails and never stops the pipeline: incident 1's filter
// dereferenced the header value without a check, one legacy record without
// the header threw, and with errors.tolerance=none the whole sink stopped
// consuming for six hours, unnoticed. The cure is a default plus a metric
// someone alerts on; see buggy.go for the defect.
//
// Files: filter.go (Config, New, Apply, the header's states), metrics.go
// (the filter's own Prometheus registry and /metrics handler), buggy.go (the
// incident's filter).
package headerfilter
