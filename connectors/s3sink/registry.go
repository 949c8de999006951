package s3sink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/twmb/franz-go/pkg/sr"
)

// errNoSchema marks a schema id the registry does not know, or a schema the
// sink cannot use: records written with it go to the dead-letter object.
var errNoSchema = errors.New("unusable writer schema")

// schemas resolves wire-format schema ids to codecs, caching each one:
// a registry id names one immutable schema.
type schemas struct {
	cl *sr.Client

	mu    sync.Mutex
	cache map[int]*codec
}

func newSchemas(url string, hc *http.Client) (*schemas, error) {
	cl, err := sr.NewClient(sr.URLs(url), sr.HTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("create registry client: %w", err)
	}
	return &schemas{cl: cl, cache: map[int]*codec{}}, nil
}

// codec returns the codec of schema id. An error wrapping errNoSchema is
// permanent; any other error is worth a retry.
func (s *schemas) codec(ctx context.Context, id int) (*codec, error) {
	s.mu.Lock()
	c, ok := s.cache[id]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	sch, err := s.cl.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.ErrorCode == sr.ErrSchemaNotFound.Code) {
			return nil, fmt.Errorf("%w: schema id %d: %w", errNoSchema, id, err)
		}
		return nil, fmt.Errorf("look up schema id %d: %w", id, err)
	}
	if sch.Type != sr.TypeAvro {
		return nil, fmt.Errorf("%w: schema id %d is %s, not Avro", errNoSchema, id, sch.Type)
	}
	c, err = newCodec(id, sch.Schema)
	if err != nil {
		return nil, fmt.Errorf("%w: schema id %d does not parse: %w", errNoSchema, id, err)
	}
	s.mu.Lock()
	s.cache[id] = c
	s.mu.Unlock()
	return c, nil
}

// wireHeader is the Confluent wire format's header: magic byte 0, then the
// 4-byte big-endian schema id.
const wireHeader = 5

// parseWire returns the schema id of a wire-format value.
func parseWire(v []byte) (int, error) {
	switch {
	case v == nil:
		return 0, errors.New("null value (tombstone): nothing to decode")
	case len(v) < wireHeader:
		return 0, fmt.Errorf("value is %d bytes, shorter than the 5-byte wire-format header", len(v))
	case v[0] != 0:
		return 0, fmt.Errorf("magic byte is 0x%02x, not 0x00: not the Confluent wire format", v[0])
	}
	return int(binary.BigEndian.Uint32(v[1:wireHeader])), nil
}
