package checker

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hamba/avro/v2"
	hocf "github.com/hamba/avro/v2/ocf"

	"github.com/pipechaos/pipechaos/harness/workload"
)

// BenchmarkDecodeAvro compares the two Avro decoders on one object as the
// s3sink writes it (1000 workload records, schema v1, one null-codec
// block): hamba/avro (the fast path) against goavro (the generic path).
func BenchmarkDecodeAvro(b *testing.B) {
	type event struct {
		ID       int64  `avro:"id"`
		Key      string `avro:"key"`
		Produced int64  `avro:"produced_at_us"`
		Payload  []byte `avro:"payload"`
	}
	var buf bytes.Buffer
	enc, err := hocf.NewEncoderWithSchema(avro.MustParse(workload.SchemaV1), &buf, hocf.WithBlockLength(1000))
	if err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte{7}, 64)
	for id := 1; id <= 1000; id++ {
		if err := enc.Encode(event{ID: int64(id), Key: fmt.Sprintf("key-%02d", id%64), Produced: int64(id), Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	for _, d := range []struct {
		name string
		fn   func(string, int32, *bytes.Reader, func(Found)) error
	}{
		{"hamba", func(k string, p int32, r *bytes.Reader, fn func(Found)) error { return decodeAvro(k, p, r, fn) }},
		{"goavro", func(k string, p int32, r *bytes.Reader, fn func(Found)) error { return decodeAvroGeneric(k, p, r, fn) }},
	} {
		b.Run(d.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				if err := d.fn("o.avro", 0, bytes.NewReader(data), func(Found) { n++ }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
			b.SetBytes(int64(len(data)))
		})
	}
}
