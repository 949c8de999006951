package s3sink

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Transform is one step of the chain every record goes through before it is
// buffered, like a Kafka Connect single message transform. It may modify the
// record (headers, key, value) in place.
//
// The chain runs in Config.Transforms order. A step that drops the record
// ends the chain; the last non-empty Route of the chain wins. An error ends
// the chain and sends the record to the dead-letter object — it never stops
// the sink (incident 1: one bad header must not stop all records), and it is
// counted in pipechaos_s3sink_transform_errors_total.
type Transform interface {
	Apply(r *kgo.Record) (Routed, error)
}

// Routed is what a Transform decided about a record.
type Routed struct {
	// Route, if not empty, prefixes the record's object key:
	// "<Route>/topics/<topic>/...". Slashes around it are trimmed; inner
	// slashes make deeper prefixes. Records of different routes never
	// share an object.
	Route string
	// Drop filters the record out: it is not written, but its offset is
	// committed with its neighbours, and it is counted in
	// pipechaos_s3sink_records_filtered_total.
	Drop bool
}

// TransformFunc adapts a function to Transform.
type TransformFunc func(r *kgo.Record) (Routed, error)

// Apply calls f(r).
func (f TransformFunc) Apply(r *kgo.Record) (Routed, error) { return f(r) }

// applyTransforms runs the chain on r.
func applyTransforms(ts []Transform, r *kgo.Record) (Routed, error) {
	var out Routed
	for _, t := range ts {
		rt, err := t.Apply(r)
		if err != nil {
			return Routed{}, err
		}
		if rt.Drop {
			return Routed{Route: out.Route, Drop: true}, nil
		}
		if route := strings.Trim(rt.Route, "/"); route != "" {
			out.Route = route
		}
	}
	return out, nil
}
