package checker

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/pipechaos/pipechaos/harness/workload"
)

// TestFastAvroAgreesWithGoavro decodes the same objects through the fast
// path and through goavro's generic decoder, for every shape the fast path
// takes and every codec: same records, same order.
func TestFastAvroAgreesWithGoavro(t *testing.T) {
	const optional = `{"type":"record","name":"E","fields":[{"name":"payload","type":"bytes"},` +
		`{"name":"key","type":["null","string"]},{"name":"id","type":["null","long"]}]}`
	const noKey = `{"type":"record","name":"E","fields":[{"name":"id","type":"long"},{"name":"x","type":{"type":"array","items":"int"}}]}`
	rng := rand.New(rand.NewSource(5))
	for _, codec := range []string{"null", "deflate", "snappy"} {
		for name, mk := range map[string]func(i int64) map[string]any{
			"v1": func(i int64) map[string]any { return rec(i, fmt.Sprint("k", i%7)) },
			"v2": func(i int64) map[string]any {
				r := rec(i, "k")
				r["tenant"] = goavro.Union("string", "t")
				return r
			},
			"optional": func(i int64) map[string]any {
				var k any = goavro.Union("string", fmt.Sprint("k", i%3))
				if i%4 == 0 {
					k = nil
				}
				return map[string]any{"payload": []byte{byte(i)}, "key": k, "id": goavro.Union("long", i)}
			},
			"no key": func(i int64) map[string]any { return map[string]any{"id": i, "x": []any{int32(1), int32(2)}} },
		} {
			schema := map[string]string{"v1": workload.SchemaV1, "v2": workload.SchemaV2, "optional": optional, "no key": noKey}[name]
			var recs []map[string]any
			for i := int64(1); i <= 300; i++ {
				recs = append(recs, mk(i*int64(rng.Intn(1000)+1)))
			}
			data := ocf(t, schema, codec, 37, recs...)
			var fast, slow []Found
			if err := decodeAvro("k.avro", 2, bytes.NewReader(data), func(f Found) { fast = append(fast, f) }); err != nil {
				t.Fatalf("%s/%s fast: %v", name, codec, err)
			}
			if err := decodeAvroGeneric("k.avro", 2, bytes.NewReader(data), func(f Found) { slow = append(slow, f) }); err != nil {
				t.Fatalf("%s/%s goavro: %v", name, codec, err)
			}
			if fmt.Sprint(fast) != fmt.Sprint(slow) || len(fast) != 300 {
				t.Fatalf("%s/%s: fast path read %d records, goavro %d; they differ", name, codec, len(fast), len(slow))
			}
		}
	}
}

// TestFastAvroRejectsBadBlocks: a block whose declared size is out of
// bounds, or whose sync marker is wrong, is a corrupt object, never a panic
// or a huge allocation.
func TestFastAvroRejectsBadBlocks(t *testing.T) {
	good := ocf(t, workload.SchemaV1, "null", 10, rec(1, "a"), rec(2, "b"))
	for i := len(good) - 40; i < len(good); i++ {
		bad := bytes.Clone(good)
		bad[i] ^= 0xff
		_ = DecodeObject("k.avro", bytes.NewReader(bad), func(Found) {})
	}
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1 // the sync marker
	if err := DecodeObject("k.avro", bytes.NewReader(bad), func(Found) {}); err == nil {
		t.Fatal("a block with a wrong sync marker was read as good")
	}
}
