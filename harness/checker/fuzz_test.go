package checker

import (
	"bytes"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/pipechaos/pipechaos/harness/workload"
)

// FuzzDecodeObject treats arbitrary bytes as an object a user's sink wrote,
// under each name the checker recognises (.avro, .json, .jsonl, no
// extension): decoding never panics and never runs away with memory; it
// returns the records it read and, for bytes that are not a well-formed
// object, an error (a corrupt object).
//
//	go test -run '^$' -fuzz FuzzDecodeObject -fuzztime 60s -parallel 1 ./harness/checker
func FuzzDecodeObject(f *testing.F) {
	ocfOf := func(schema, codec string, recs ...map[string]any) []byte {
		var buf bytes.Buffer
		w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Schema: schema, CompressionName: codec})
		if err != nil {
			f.Fatal(err)
		}
		data := make([]any, len(recs))
		for i, r := range recs {
			data[i] = r
		}
		if err := w.Append(data); err != nil {
			f.Fatal(err)
		}
		return buf.Bytes()
	}
	for _, codec := range []string{"null", "deflate", "snappy"} {
		f.Add(uint8(0), ocfOf(workload.SchemaV1, codec, rec(1, "a"), rec(2, "b")))
	}
	f.Add(uint8(0), ocfOf(`{"type":"record","name":"E","fields":[{"name":"id","type":["null","long"]},{"name":"key","type":["null","string"]}]}`, "null",
		map[string]any{"id": goavro.Union("long", int64(3)), "key": nil}))
	f.Add(uint8(0), ocfOf(`{"type":"record","name":"E","fields":[{"name":"id","type":"int"}]}`, "null", map[string]any{"id": int32(4)}))
	f.Add(uint8(1), []byte("{\"id\":1,\"key\":\"a\"}\n{\"id\":2}\n"))
	f.Add(uint8(2), []byte(`{"id":18446744073709551615}`))
	f.Add(uint8(3), []byte("Obj\x01\x00"))
	f.Add(uint8(3), []byte{})
	names := []string{"topics/t/partition=0/t+0+0.avro", "t/partition=1/x.json", "x.jsonl", "topics/t/part-0"}
	f.Fuzz(func(t *testing.T, name uint8, data []byte) {
		n := 0
		_ = DecodeObject(names[int(name)%len(names)], bytes.NewReader(data), func(Found) { n++ })
		if n > len(data) {
			t.Fatalf("%d records from %d bytes", n, len(data))
		}
	})
}
