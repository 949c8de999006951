package s3sink

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/hamba/avro/v2/ocf"
	"github.com/linkedin/goavro/v2"
	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/harness/workload"
)

// every Avro type, a recursive record, a named reference and logical types.
const richSchema = `{
  "type": "record", "name": "Rich", "namespace": "t",
  "fields": [
    {"name": "n", "type": "null"},
    {"name": "b", "type": "boolean"},
    {"name": "i", "type": "int"},
    {"name": "l", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "f", "type": "float"},
    {"name": "d", "type": "double"},
    {"name": "by", "type": "bytes"},
    {"name": "s", "type": "string"},
    {"name": "fx", "type": {"type": "fixed", "name": "F4", "size": 4}},
    {"name": "fx2", "type": "F4"},
    {"name": "e", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}},
    {"name": "a", "type": {"type": "array", "items": "int"}},
    {"name": "m", "type": {"type": "map", "values": ["null", "string"]}},
    {"name": "u", "type": ["null", "long", "string", "Color"]},
    {"name": "next", "type": ["null", "Rich"], "default": null}
  ]
}`

func richNative(r *rand.Rand, depth int) map[string]any {
	str := func() string { return string(bytes.Repeat([]byte{'a' + byte(r.IntN(26))}, r.IntN(12))) }
	arr := make([]any, r.IntN(5))
	for i := range arr {
		arr[i] = int32(r.Int32() - 1<<30)
	}
	m := map[string]any{}
	for range r.IntN(4) {
		if r.IntN(2) == 0 {
			m[str()] = nil
		} else {
			m[str()] = goavro.Union("string", str())
		}
	}
	var u any
	switch r.IntN(4) {
	case 1:
		u = goavro.Union("long", r.Int64()-1<<62)
	case 2:
		u = goavro.Union("string", str())
	case 3:
		u = goavro.Union("t.Color", "GREEN")
	}
	var next any
	if depth < 2 && r.IntN(2) == 0 {
		next = goavro.Union("t.Rich", richNative(r, depth+1))
	}
	return map[string]any{
		"n": nil, "b": r.IntN(2) == 0, "i": int32(r.Int32() - 1<<30), "l": r.Int64() - 1<<62,
		"f": r.Float32(), "d": r.Float64(), "by": []byte(str()), "s": str(),
		"fx": []byte("abcd"), "fx2": []byte("wxyz"), "e": []string{"RED", "GREEN", "BLUE"}[r.IntN(3)],
		"a": arr, "m": m, "u": u, "next": next,
	}
}

// The check accepts exactly what goavro decodes to its end, on valid datums
// and on truncated and corrupted ones. (It is stricter on one point only:
// a varint longer than its type allows is rejected, goavro reads it.)
func TestCodecCheckAgreesWithGoavro(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	cases := map[string]func() map[string]any{
		"v1":   func() map[string]any { return v1Native(r) },
		"v2":   func() map[string]any { n := v1Native(r); n["tenant"] = goavro.Union("string", "t"); return n },
		"rich": func() map[string]any { return richNative(r, 0) },
	}
	schemas := map[string]string{"v1": workload.SchemaV1, "v2": workload.SchemaV2, "rich": richSchema}
	for name, gen := range cases {
		t.Run(name, func(t *testing.T) {
			gc, err := goavro.NewCodec(schemas[name])
			require.NoError(t, err)
			c, err := newCodec(1, schemas[name])
			require.NoError(t, err)
			accepted, rejected := 0, 0
			for range 300 {
				good, err := gc.BinaryFromNative(nil, gen())
				require.NoError(t, err)
				require.NoError(t, c.check(good))
				require.ErrorContains(t, c.check(append(good, 0)), "1 bytes left over after the record")

				bad := bytes.Clone(good)
				switch r.IntN(3) {
				case 0:
					bad = bad[:r.IntN(len(bad))]
				case 1:
					bad[r.IntN(len(bad))] ^= 1 << r.IntN(8)
				case 2:
					bad[r.IntN(len(bad))] = byte(r.IntN(256))
				}
				_, rest, gerr := gc.NativeFromBinary(bad)
				goavroOK := gerr == nil && len(rest) == 0
				ours := c.check(bad)
				if goavroOK && errors.Is(ours, errOverflow) {
					continue
				}
				require.Equal(t, goavroOK, ours == nil, "datum %x: goavro %v (%d left), check %v", bad, gerr, len(rest), ours)
				if ours == nil {
					accepted++
				} else {
					rejected++
				}
			}
			t.Logf("%s: corrupted datums accepted by both %d, rejected by both %d", name, accepted, rejected)
		})
	}
}

func v1Native(r *rand.Rand) map[string]any {
	return map[string]any{"id": r.Int64N(1 << 40), "key": "k", "produced_at_us": r.Int64(), "payload": bytes.Repeat([]byte{1}, r.IntN(300))}
}

// A schema goavro takes and hamba does not is checked by goavro's decoder.
func TestCodecCheckFallsBackToGoavro(t *testing.T) {
	const schema = `{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"],"default":"C"}}]}`
	c, err := newCodec(1, schema)
	require.NoError(t, err)
	require.Nil(t, c.root)
	require.NoError(t, c.check([]byte{2}))
	require.ErrorContains(t, c.check([]byte{2, 0}), "1 bytes left over after the record")
	require.Error(t, c.check([]byte{4}))
	require.Error(t, c.check(nil))
}

// A v2 datum checked against v1 leaves the bytes of the new field: the
// cached-writer-schema bug is caught from the data by exactly this.
func TestCodecCheckFindsTheFieldAnOlderSchemaDoesNotHave(t *testing.T) {
	v2, err := goavro.NewCodec(workload.SchemaV2)
	require.NoError(t, err)
	c1, err := newCodec(1, workload.SchemaV1)
	require.NoError(t, err)
	for _, tenant := range []any{nil, goavro.Union("string", "acme")} {
		n := v1Native(rand.New(rand.NewPCG(1, 2)))
		n["tenant"] = tenant
		b, err := v2.BinaryFromNative(nil, n)
		require.NoError(t, err)
		require.ErrorContains(t, c1.check(b), "bytes left over after the record")
	}
}

// Objects are readable by goavro (the checker) and hamba (the schema-drift
// scenario's reader), with the registry's schema text in their header.
func TestOCFReadableByGoavroAndHamba(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, schema := range []string{workload.SchemaV1, richSchema} {
		gc, err := goavro.NewCodec(schema)
		require.NoError(t, err)
		var natives []any
		var datums [][]byte
		size := 0
		for range 50 {
			n := v1Native(r)
			if schema == richSchema {
				n = richNative(r, 0)
			}
			b, err := gc.BinaryFromNative(nil, n)
			require.NoError(t, err)
			natives, datums, size = append(natives, n), append(datums, b), size+len(b)
		}
		b := newOCFBuilder(schema, size)
		for _, d := range datums {
			b.add(d)
		}
		obj := b.bytes()
		require.Equal(t, cap(b.buf), len(b.buf), "the object fits the room reserved for it")

		gr, err := goavro.NewOCFReader(bytes.NewReader(obj))
		require.NoError(t, err)
		require.Equal(t, "null", gr.CompressionName())
		require.Equal(t, schema, gr.Codec().Schema())
		i := 0
		for gr.Scan() {
			got, err := gr.Read()
			require.NoError(t, err)
			want, _, err := gc.NativeFromBinary(datums[i])
			require.NoError(t, err)
			require.Equal(t, want, got)
			i++
		}
		require.NoError(t, gr.Err())
		require.Equal(t, len(natives), i)

		hd, err := ocf.NewDecoder(bytes.NewReader(obj))
		require.NoError(t, err)
		require.Equal(t, []byte("null"), hd.Metadata()["avro.codec"])
		i = 0
		for hd.HasNext() {
			var v map[string]any
			require.NoError(t, hd.Decode(&v))
			i++
		}
		require.NoError(t, hd.Error())
		require.Equal(t, len(natives), i)
	}
}

// An empty map or array, and a block with a negative count (followed by its
// byte size), are walked like goavro reads them.
func TestCodecCheckBlocks(t *testing.T) {
	c, err := newCodec(1, `{"type":"array","items":"long"}`)
	require.NoError(t, err)
	require.NoError(t, c.check([]byte{0}))
	require.NoError(t, c.check([]byte{3, 4, 2, 4, 0}))                         // -2 items, 2 bytes: 1, 2
	require.ErrorContains(t, c.check([]byte{3, 4, 2, 4}), "short buffer")      // no end block
	require.ErrorContains(t, c.check([]byte{0x7f}), "short buffer")            // 127 items of nothing
	require.ErrorIs(t, c.check(bytes.Repeat([]byte{0xff}, 11)), errOverflow)   // an 11-byte varint
	require.ErrorContains(t, c.check([]byte{2, 2, 0, 0}), "1 bytes left over") // one item, end, a stray byte
}
