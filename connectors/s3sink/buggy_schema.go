package s3sink

import (
	"context"
	"sync"
)

// NewCachedWriterSchema builds the sink of incident 7 ("schema drift during
// a migration"): it reads the writer schema once, from the first record it
// sees, and decodes every later record with it.
//
// A migration added a field to the records. The table writer kept the
// schema it had started with; the new records no longer matched it, every
// write of them failed with IncompatibleSchemaException, and the data of the
// new version never reached the table.
//
// The faulty line is in the codec lookup below: once a codec is cached, the
// schema id the record carries in its wire-format header is ignored. A v2
// record decoded with the v1 codec leaves the bytes of the new field
// unread, so it is rejected as undecodable and sent to the dead-letter
// object instead of the bucket's data. The fix (New, registry.go) resolves
// every record's own schema id through the registry, caching per id; the
// sink starts a new object when the id changes, and readers resolve each
// object's writer schema to their own.
func NewCachedWriterSchema(cfg Config) (*Sink, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	var (
		mu     sync.Mutex
		cached *codec
	)
	lookup := s.hooks.codec
	s.hooks.codec = func(ctx context.Context, id int) (*codec, error) {
		mu.Lock()
		defer mu.Unlock()
		if cached != nil {
			return cached, nil // BUG: the record's schema id is ignored once a schema is cached
		}
		c, err := lookup(ctx, id)
		if err != nil {
			return nil, err
		}
		cached = c
		return c, nil
	}
	return s, nil
}
