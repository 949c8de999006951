package s3sink

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/hamba/avro/v2"
	"github.com/linkedin/goavro/v2"
)

// codec is a writer schema as the sink uses it. A wire-format value's body
// (after the 5-byte header) already is the Avro binary encoding of the
// record under its writer schema, so the sink does not decode and re-encode
// it: it checks that the body is exactly one datum of the schema (check)
// and copies it into the object container file (appendOCF), whose header
// carries the schema text the registry returned.
type codec struct {
	id     int
	schema string // the registry's text, written to each object's header
	root   *node  // nil if hamba does not take the schema: native checks
	native *goavro.Codec
}

// newCodec compiles schema for checking. The schema must parse for goavro:
// the checker and downstream readers read the objects with it. The few
// schemas goavro takes and hamba does not (an enum default that is not a
// symbol) are checked by decoding with goavro, as slow as before.
func newCodec(id int, schema string) (*codec, error) {
	native, err := goavro.NewCodec(schema)
	if err != nil {
		return nil, err
	}
	c := &codec{id: id, schema: schema, native: native}
	if s, err := avro.ParseWithCache(schema, "", &avro.SchemaCache{}); err == nil { // a fresh cache: no names shared across ids
		c.root, _ = compile(s, map[string]*node{})
	}
	return c, nil
}

// check reports why body is not exactly one datum of the schema, or nil.
func (c *codec) check(body []byte) error {
	var (
		rest []byte
		err  error
	)
	if c.root != nil {
		rest, err = c.root.skip(body)
	} else {
		_, rest, err = c.native.NativeFromBinary(body)
	}
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%d bytes left over after the record", len(rest))
	}
	return nil
}

type kind uint8

const (
	kindNull kind = iota
	kindBoolean
	kindInt
	kindLong
	kindFloat
	kindDouble
	kindBytes // string too: the encoding is the same, and it is not checked for UTF-8 (nor by goavro)
	kindFixed
	kindEnum
	kindRecord
	kindArray
	kindMap
	kindUnion
)

// node is a compiled schema: enough to walk a datum's bytes without
// building any value. Logical types change nothing in the encoding.
type node struct {
	kind  kind
	n     int      // fixed: size; enum: number of symbols
	name  string   // record, union: for errors
	sub   []*node  // record: fields; union: branches; array, map: [0] items
	names []string // record: field names
}

func compile(s avro.Schema, named map[string]*node) (*node, error) {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if ns, ok := s.(avro.NamedSchema); ok {
		if n := named[ns.FullName()]; n != nil {
			return n, nil // a reference, recursive ones included
		}
	}
	switch s := s.(type) {
	case *avro.NullSchema:
		return &node{kind: kindNull}, nil
	case *avro.PrimitiveSchema:
		switch s.Type() {
		case avro.Null:
			return &node{kind: kindNull}, nil
		case avro.Boolean:
			return &node{kind: kindBoolean}, nil
		case avro.Int:
			return &node{kind: kindInt}, nil
		case avro.Long:
			return &node{kind: kindLong}, nil
		case avro.Float:
			return &node{kind: kindFloat}, nil
		case avro.Double:
			return &node{kind: kindDouble}, nil
		case avro.Bytes, avro.String:
			return &node{kind: kindBytes}, nil
		}
	case *avro.FixedSchema:
		n := &node{kind: kindFixed, n: s.Size()}
		named[s.FullName()] = n
		return n, nil
	case *avro.EnumSchema:
		n := &node{kind: kindEnum, n: len(s.Symbols())}
		named[s.FullName()] = n
		return n, nil
	case *avro.RecordSchema:
		n := &node{kind: kindRecord, name: s.FullName()}
		named[s.FullName()] = n // before the fields: they may refer to it
		for _, f := range s.Fields() {
			sub, err := compile(f.Type(), named)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name(), err)
			}
			n.sub = append(n.sub, sub)
			n.names = append(n.names, f.Name())
		}
		return n, nil
	case *avro.ArraySchema:
		sub, err := compile(s.Items(), named)
		if err != nil {
			return nil, err
		}
		return &node{kind: kindArray, sub: []*node{sub}}, nil
	case *avro.MapSchema:
		sub, err := compile(s.Values(), named)
		if err != nil {
			return nil, err
		}
		return &node{kind: kindMap, sub: []*node{sub}}, nil
	case *avro.UnionSchema:
		n := &node{kind: kindUnion, name: "union"}
		for _, t := range s.Types() {
			sub, err := compile(t, named)
			if err != nil {
				return nil, err
			}
			n.sub = append(n.sub, sub)
		}
		return n, nil
	}
	return nil, fmt.Errorf("unsupported Avro schema type %s", s.Type())
}

var stringNode = &node{kind: kindBytes}

var (
	errShort    = io.ErrShortBuffer
	errOverflow = errors.New("varint overflows")
)

// varint reads a zigzag varint of at most maxBytes bytes.
func varint(b []byte, maxBytes int) (int64, []byte, error) {
	var v uint64
	var shift uint
	for i := 0; i < len(b); i++ {
		if i == maxBytes {
			return 0, nil, errOverflow
		}
		c := b[i]
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(v>>1) ^ -int64(v&1), b[i+1:], nil
		}
		shift += 7
	}
	return 0, nil, errShort
}

// skip walks one datum of n at the start of b and returns what follows it.
func (n *node) skip(b []byte) ([]byte, error) {
	switch n.kind {
	case kindNull:
		return b, nil
	case kindBoolean:
		if len(b) < 1 {
			return nil, fmt.Errorf("cannot decode boolean: %w", errShort)
		}
		if b[0] > 1 {
			return nil, fmt.Errorf("cannot decode boolean: byte %d is neither 0 nor 1", b[0])
		}
		return b[1:], nil
	case kindInt:
		v, rest, err := varint(b, 5)
		if err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
			err = errOverflow
		}
		if err != nil {
			return nil, fmt.Errorf("cannot decode int: %w", err)
		}
		return rest, nil
	case kindLong:
		_, rest, err := varint(b, 10)
		if err != nil {
			return nil, fmt.Errorf("cannot decode long: %w", err)
		}
		return rest, nil
	case kindFloat:
		if len(b) < 4 {
			return nil, fmt.Errorf("cannot decode float: %w", errShort)
		}
		return b[4:], nil
	case kindDouble:
		if len(b) < 8 {
			return nil, fmt.Errorf("cannot decode double: %w", errShort)
		}
		return b[8:], nil
	case kindBytes:
		size, rest, err := varint(b, 10)
		switch {
		case err != nil:
			return nil, fmt.Errorf("cannot decode bytes or string length: %w", err)
		case size < 0:
			return nil, fmt.Errorf("cannot decode bytes or string: negative length %d", size)
		case size > int64(len(rest)):
			return nil, fmt.Errorf("cannot decode bytes or string of %d bytes: %w", size, errShort)
		}
		return rest[size:], nil
	case kindFixed:
		if len(b) < n.n {
			return nil, fmt.Errorf("cannot decode fixed of %d bytes: %w", n.n, errShort)
		}
		return b[n.n:], nil
	case kindEnum:
		i, rest, err := varint(b, 5)
		switch {
		case err != nil:
			return nil, fmt.Errorf("cannot decode enum: %w", err)
		case i < 0 || i >= int64(n.n):
			return nil, fmt.Errorf("cannot decode enum: index %d is not below its %d symbols", i, n.n)
		}
		return rest, nil
	case kindRecord:
		var err error
		for i, f := range n.sub {
			if b, err = f.skip(b); err != nil {
				return nil, fmt.Errorf("record %s field %s: %w", n.name, n.names[i], err)
			}
		}
		return b, nil
	case kindUnion:
		i, rest, err := varint(b, 10)
		switch {
		case err != nil:
			return nil, fmt.Errorf("cannot decode union index: %w", err)
		case i < 0 || i >= int64(len(n.sub)):
			return nil, fmt.Errorf("cannot decode union: index %d is not below its %d branches", i, len(n.sub))
		}
		return n.sub[i].skip(rest)
	case kindArray, kindMap:
		what := "array"
		if n.kind == kindMap {
			what = "map"
		}
		for {
			count, rest, err := varint(b, 10)
			if err != nil {
				return nil, fmt.Errorf("cannot decode %s block count: %w", what, err)
			}
			b = rest
			if count == 0 {
				return b, nil
			}
			if count < 0 {
				// A negative count is followed by the block's size in
				// bytes; every item is still walked, to check it.
				if count == math.MinInt64 {
					return nil, fmt.Errorf("cannot decode %s block count: %w", what, errOverflow)
				}
				count = -count
				if _, b, err = varint(b, 10); err != nil {
					return nil, fmt.Errorf("cannot decode %s block size: %w", what, err)
				}
			}
			switch {
			case count > math.MaxInt32:
				return nil, fmt.Errorf("cannot decode %s block of %d items: more than %d", what, count, math.MaxInt32)
			case count > int64(len(b)) && (n.kind == kindMap || n.sub[0].minSize() > 0):
				return nil, fmt.Errorf("cannot decode %s block of %d items: %w", what, count, errShort)
			}
			for ; count > 0; count-- {
				if n.kind == kindMap {
					if b, err = stringNode.skip(b); err != nil {
						return nil, fmt.Errorf("%s key: %w", what, err)
					}
				}
				if b, err = n.sub[0].skip(b); err != nil {
					return nil, fmt.Errorf("%s item: %w", what, err)
				}
			}
		}
	}
	return nil, fmt.Errorf("unknown schema node kind %d", n.kind)
}

// minSize is a lower bound of a datum's encoded size (0 if it may be empty).
func (n *node) minSize() int {
	switch n.kind {
	case kindNull:
		return 0
	case kindFloat:
		return 4
	case kindDouble:
		return 8
	case kindFixed:
		return n.n
	case kindRecord:
		return 0 // may be recursive or empty: do not walk it
	}
	return 1
}

// OCF, the Avro object container file: magic, a metadata map, a 16-byte
// sync marker, then blocks of (count, size, datums, sync).
const ocfMagic = "Obj\x01"

// ocfBuilder builds an object container file with codec "null" and one
// block, from datums already Avro-encoded. Each datum is copied once, into
// its place: the header and the block's count and size, known only at the
// end, are then written in the room left in front of the datums.
type ocfBuilder struct {
	schema string
	buf    []byte // room for the header, then the datums
	start  int    // where the datums begin
	count  int
}

// newOCFBuilder starts an object for datums of at most size bytes in all.
func newOCFBuilder(schema string, size int) *ocfBuilder {
	start := len(ocfMagic) + 64 + len(schema) + 16 + 2*binary.MaxVarintLen64
	return &ocfBuilder{schema: schema, buf: make([]byte, start, start+size+16), start: start}
}

// add appends one datum.
func (o *ocfBuilder) add(datum []byte) {
	o.buf = append(o.buf, datum...)
	o.count++
}

// bytes finishes the object; the builder must not be used after.
func (o *ocfBuilder) bytes() []byte {
	var sync [16]byte
	rand.Read(sync[:]) // never fails

	head := make([]byte, 0, o.start)
	head = append(head, ocfMagic...)
	head = appendLong(head, 2) // metadata: a map of 2 entries, then an empty block
	head = appendBytes(head, "avro.schema")
	head = appendBytes(head, o.schema)
	head = appendBytes(head, "avro.codec")
	head = appendBytes(head, "null")
	head = appendLong(head, 0)
	head = append(head, sync[:]...)
	head = appendLong(head, int64(o.count))
	head = appendLong(head, int64(len(o.buf)-o.start))

	from := o.start - len(head)
	copy(o.buf[from:], head)
	o.buf = append(o.buf, sync[:]...)
	return o.buf[from:]
}

func appendLong(dst []byte, v int64) []byte {
	return binary.AppendUvarint(dst, uint64(v<<1)^uint64(v>>63))
}

func appendBytes(dst []byte, s string) []byte {
	return append(appendLong(dst, int64(len(s))), s...)
}
