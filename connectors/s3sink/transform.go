package s3sink

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors"
)

// Transform is one step of the chain every record goes through before it is
// buffered, like a Kafka Connect single message transform. It may modify the
// record (headers, key, value) in place.
//
// The chain runs in Config.Transforms order. A step that drops the record
// ends the chain; the last non-empty Route of the chain wins. An error — or
// a panic, recovered and turned into an error — ends the chain and is
// counted in pipechaos_s3sink_transform_errors_total; by default it sends
// the record to the dead-letter object and never stops the sink (incident 1:
// one bad header must not stop all records). Config.ErrorTolerance "none"
// makes it fail the sink instead, as errors.tolerance=none did.
//
// It is the role connectors.Transform.
type Transform = connectors.Transform

// Routed is what a Transform decided about a record. A dropped record is
// counted in pipechaos_s3sink_records_filtered_total.
type Routed = connectors.Routed

// TransformFunc adapts a function to Transform.
type TransformFunc = connectors.TransformFunc

// apply runs one transform, turning a panic into an error: a transform
// bug is the transform's error, not the end of the process.
func apply(i int, t Transform, r *kgo.Record) (rt Routed, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("transform %d (%T) panicked: %v", i, t, p)
		}
	}()
	return t.Apply(r)
}

// applyTransforms runs the chain on r.
func applyTransforms(ts []Transform, r *kgo.Record) (Routed, error) {
	var out Routed
	for i, t := range ts {
		rt, err := apply(i, t, r)
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
