package workload

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"strconv"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Record is one generated record, before it is produced.
type Record struct {
	ID   uint64
	Key  string
	Site SiteState
	// SiteValue is the header value for SiteValid and SiteMalformed.
	SiteValue string
	// Step is the index of the schema step the record belongs to.
	Step int
}

// Generator draws records deterministically from a seed.
type Generator struct {
	r       *rand.Rand
	keys    keyDrawer
	headers HeaderMix
	payload int
	next    uint64
	steps   []SchemaStep
}

// NewGenerator returns a generator for cfg (defaults applied, validated).
func NewGenerator(cfg Config) (*Generator, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewSource(cfg.Seed))
	return &Generator{
		r:       r,
		keys:    cfg.Keys.drawer(r),
		headers: cfg.Headers,
		payload: cfg.PayloadBytes,
		next:    1,
		steps:   cfg.Schemas,
	}, nil
}

// Next returns the next record. IDs start at 1 and increase by one.
func (g *Generator) Next() Record {
	id := g.next
	g.next++
	site, v := g.headers.draw(g.r)
	step := 0
	for i, s := range g.steps {
		if id >= s.From {
			step = i
		}
	}
	return Record{ID: id, Key: g.keys(), Site: site, SiteValue: v, Step: step}
}

// payloadBytes draws the record's payload from the generator's stream.
func (g *Generator) payloadBytes() []byte {
	b := make([]byte, g.payload)
	g.r.Read(b)
	return b
}

// encoder turns records into Confluent wire-format values for one schema.
type encoder struct {
	id     int
	codec  *goavro.Codec
	fields []avro.Field
}

func newEncoder(schema string, id int) (*encoder, error) {
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		return nil, fmt.Errorf("parse schema: %w", err)
	}
	parsed, err := avro.Parse(schema)
	if err != nil {
		return nil, fmt.Errorf("parse schema: %w", err)
	}
	rec, ok := parsed.(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("schema must be an Avro record, got %s", parsed.Type())
	}
	var fields []avro.Field
	for _, f := range rec.Fields() {
		fields = append(fields, *f)
	}
	return &encoder{id: id, codec: codec, fields: fields}, nil
}

// native builds a goavro datum for rec: fields are filled by name where the
// contract names them (id, key, produced_at_us, payload) and by type
// otherwise, so a drifted schema still gets a well-typed value.
func (e *encoder) native(rec Record, payload []byte, now time.Time) map[string]any {
	m := make(map[string]any, len(e.fields))
	for _, f := range e.fields {
		m[f.Name()] = fill(f.Name(), f.Type(), rec, payload, now)
	}
	return m
}

func fill(name string, s avro.Schema, rec Record, payload []byte, now time.Time) any {
	switch t := s.(type) {
	case *avro.UnionSchema:
		for _, sub := range t.Types() {
			if sub.Type() == avro.Null {
				continue
			}
			return goavro.Union(unionName(sub), fill(name, sub, rec, payload, now))
		}
		return nil
	case *avro.PrimitiveSchema:
		switch t.Type() {
		case avro.Long:
			switch name {
			case "id":
				return int64(rec.ID)
			case "produced_at_us":
				return now.UnixMicro()
			}
			return int64(len(rec.Key))
		case avro.Int:
			return int32(rec.ID % (1 << 31))
		case avro.String:
			if name == "key" {
				return rec.Key
			}
			return name + "-" + rec.Key
		case avro.Bytes:
			return payload
		case avro.Boolean:
			return rec.ID%2 == 0
		case avro.Double:
			return float64(rec.ID)
		case avro.Float:
			return float32(rec.ID)
		}
	}
	return nil
}

func unionName(s avro.Schema) string {
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

// encode returns the Confluent wire format of rec: magic 0, schema id, body.
func (e *encoder) encode(rec Record, payload []byte, now time.Time) ([]byte, error) {
	buf := make([]byte, 5, 5+len(payload)+64)
	binary.BigEndian.PutUint32(buf[1:], uint32(e.id))
	return e.codec.BinaryFromNative(buf, e.native(rec, payload, now))
}

// kafkaRecord builds the Kafka record for rec with the given value.
func kafkaRecord(topic string, rec Record, value []byte) *kgo.Record {
	r := &kgo.Record{
		Topic:   topic,
		Key:     []byte(rec.Key),
		Value:   value,
		Headers: []kgo.RecordHeader{{Key: IDHeader, Value: []byte(strconv.FormatUint(rec.ID, 10))}},
	}
	switch rec.Site {
	case SiteValid, SiteMalformed:
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: SiteHeader, Value: []byte(rec.SiteValue)})
	case SiteNull:
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: SiteHeader, Value: nil})
	}
	return r
}

// RecordID extracts the unique ID a workload record carries in its header.
func RecordID(r *kgo.Record) (uint64, bool) {
	for _, h := range r.Headers {
		if h.Key == IDHeader {
			id, err := strconv.ParseUint(string(h.Value), 10, 64)
			return id, err == nil
		}
	}
	return 0, false
}
