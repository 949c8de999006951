package s3sink

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"
)

// NewUncachedSchemas builds a sink whose team made two choices that each
// looked reasonable. They looked the writer schema up in the registry on
// every flush instead of caching it, "so that a schema changed in the
// registry is picked up at once" (a registry id names one immutable schema:
// there is nothing to pick up). And they sent a record whose schema lookup
// failed to the dead-letter object instead of retrying, "because an unknown
// schema will not become known by retrying, and one bad record must not
// stop the pipeline" (incident 1's lesson, applied one step too far).
//
// Either alone is harmless on a quiet day, and so are both together. When
// the registry is unreachable for a while — a deploy, a network blip — every
// flush of that while asks the registry, fails, and the lookup error is
// taken for "unknown schema" (lookupEveryFlush, the line marked BUG below):
// healthy records, whose schema the sink had read a second earlier, go to
// dlq/ objects that nobody replays, their offsets are committed, and the
// data bucket never gets them.
//
// The fix is the correct sink's schemas (registry.go): cache each id's codec
// (an id never changes), dead-letter only on a definite "no such schema"
// (404) or an unusable one, and retry every other error under the retry
// budget.
func NewUncachedSchemas(cfg Config) (*Sink, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	s.hooks.codec = s.lookupEveryFlush
	return s, nil
}

// lookupEveryFlush asks the registry for schema id, every time.
func (s *Sink) lookupEveryFlush(ctx context.Context, id int) (*codec, error) {
	sch, err := s.schemas.cl.SchemaByID(ctx, id)
	if err != nil {
		// BUG: every lookup error, a registry that is down included, is
		// taken for an unknown schema: the records go to the dead-letter
		// object and their offsets are committed.
		return nil, fmt.Errorf("%w: schema id %d: %w", errNoSchema, id, err)
	}
	if sch.Type != sr.TypeAvro {
		return nil, fmt.Errorf("%w: schema id %d is %s, not Avro", errNoSchema, id, sch.Type)
	}
	c, err := newCodec(id, sch.Schema)
	if err != nil {
		return nil, fmt.Errorf("%w: schema id %d does not parse: %w", errNoSchema, id, err)
	}
	return c, nil
}
