package checker

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/linkedin/goavro/v2"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/pipechaos/pipechaos/harness/workload"
)

// rec is a record of the workload's schema.
func rec(id int64, key string) map[string]any {
	return map[string]any{"id": id, "key": key, "produced_at_us": int64(0), "payload": []byte("x")}
}

// ocf returns an Avro Object Container File of records under schema,
// written in blocks of blockLen records.
func ocf(tb testing.TB, schema, compression string, blockLen int, recs ...map[string]any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Schema: schema, CompressionName: compression})
	if err != nil {
		tb.Fatal(err)
	}
	for batch := range slices.Chunk(recs, blockLen) {
		data := make([]any, len(batch))
		for i, r := range batch {
			data[i] = r
		}
		if err := w.Append(data); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestDecodeObject(t *testing.T) {
	const key = "topics/events/partition=3/events+3+100.avro"
	v1 := ocf(t, workload.SchemaV1, "null", 2, rec(1, "a"), rec(2, "b"), rec(3, "a"))
	v2 := ocf(t, workload.SchemaV2, "deflate", 10,
		map[string]any{"id": int64(4), "key": "a", "produced_at_us": int64(0), "payload": []byte{}, "tenant": goavro.Union("string", "t1")})
	noID := ocf(t, `{"type":"record","name":"E","fields":[{"name":"key","type":"string"}]}`, "null", 1, map[string]any{"key": "a"})
	negative := ocf(t, workload.SchemaV1, "null", 1, rec(-5, "a"))
	unionKey := ocf(t, `{"type":"record","name":"E","fields":[{"name":"id","type":"long"},{"name":"key","type":["null","string"]}]}`, "snappy", 1,
		map[string]any{"id": int64(9), "key": goavro.Union("string", "z")})

	tests := []struct {
		name    string
		key     string
		data    []byte
		want    []uint64 // IDs decoded, in order (also when an error follows)
		wantErr string   // substring; "" for no error
	}{
		{name: "avro", key: key, data: v1, want: []uint64{1, 2, 3}},
		{name: "avro, schema v2, deflate", key: key, data: v2, want: []uint64{4}},
		{name: "avro, union key, snappy", key: key, data: unionKey, want: []uint64{9}},
		{name: "avro recognised by magic", key: "topics/events/partition=3/part-0000", data: v1, want: []uint64{1, 2, 3}},
		{name: "avro truncated in its second block", key: key, data: v1[:len(v1)-20], want: []uint64{1, 2}, wantErr: "avro record 2"},
		{name: "avro garbage bytes", key: key, data: []byte("\x00\x01garbage, not an OCF at all"), wantErr: "avro"},
		{name: "avro empty object", key: key, data: nil, wantErr: "avro"},
		{name: "avro missing id", key: key, data: noID, wantErr: `no "id" field`},
		{name: "avro negative id", key: key, data: negative, wantErr: "negative"},
		{name: "json lines", key: "topics/e/partition=3/e+3+0.jsonl", data: []byte("{\"id\":1,\"key\":\"a\"}\n\n{\"id\":\"2\",\"key\":\"b\",\"x\":[1]}\n"), want: []uint64{1, 2}},
		{name: "json recognised by content", key: "out/part-1", data: []byte(`  {"id":7,"key":"a"}`), want: []uint64{7}},
		{name: "json missing id", key: "a.json", data: []byte("{\"id\":1,\"key\":\"a\"}\n{\"key\":\"b\"}\n"), want: []uint64{1}, wantErr: `no "id"`},
		{name: "json truncated", key: "a.json", data: []byte("{\"id\":1,\"key\":\"a\"}\n{\"id\":2,\"ke"), want: []uint64{1}, wantErr: "json record 1"},
		{name: "json fractional id", key: "a.json", data: []byte(`{"id":1.5}`), wantErr: `field "id"`},
		{name: "json not an object", key: "a.json", data: []byte(`[1,2]`), wantErr: "json record 0"},
		{name: "empty object of unknown format", key: "topics/e/_SUCCESS", data: nil},
		{name: "garbage of unknown format", key: "topics/e/blob.bin", data: []byte("\xff\xfe binary"), wantErr: "unknown object format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []uint64
			err := DecodeObject(tt.key, bytes.NewReader(tt.data), func(f Found) {
				got = append(got, f.ID)
				if f.Object != tt.key {
					t.Errorf("Found.Object = %q, want %q", f.Object, tt.key)
				}
				if want := parseObjectName(tt.key).partition; f.Partition != want {
					t.Errorf("Found.Partition = %d, want %d", f.Partition, want)
				}
			})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("decoded IDs %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseObjectName(t *testing.T) {
	tests := []struct {
		key       string
		partition int32
		named     bool
		offset    int64
	}{
		{"topics/events/partition=3/events+3+100.avro", 3, true, 100},
		{"run-1/topics/my.topic/partition=0/my.topic+0+9.jsonl", 0, true, 9},
		{"events+2+7.json", 2, true, 7},
		{"topics/events/partition=3/events+4+100.avro", 3, false, -1}, // disagrees with its path
		{"topics/events/partition=5/part-0001.parquet", 5, false, -1},
		{"topics/events/events+x+1.avro", -1, false, -1},
		{"_SUCCESS", -1, false, -1},
	}
	for _, tt := range tests {
		o := parseObjectName(tt.key)
		if o.partition != tt.partition || o.named != tt.named || o.offset != tt.offset {
			t.Errorf("parseObjectName(%q) = %+v, want partition %d named %v offset %d",
				tt.key, o, tt.partition, tt.named, tt.offset)
		}
	}
}

// fakeStore serves an in-process S3 (gofakes3) and returns a client for it.
// intercept, if not nil, may answer a request itself (an injected fault).
func fakeStore(tb testing.TB, intercept func(w http.ResponseWriter, r *http.Request) bool) (*minio.Client, *gofakes3.GoFakeS3) {
	tb.Helper()
	faker := gofakes3.New(s3mem.New())
	h := faker.Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if intercept != nil && intercept(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	tr := &http.Transport{}
	tb.Cleanup(tr.CloseIdleConnections)
	client, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{
		Creds:     credentials.NewStaticV4("key", "secret", ""),
		Region:    "us-east-1",
		Transport: tr,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return client, faker
}

func put(tb testing.TB, client *minio.Client, bucket, key string, data []byte) {
	tb.Helper()
	_, err := client.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{DisableContentSha256: true})
	if err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
}

func TestReadStore(t *testing.T) {
	ctx := context.Background()
	const bucket = "sink"
	avro := func(ids ...int64) []byte {
		recs := make([]map[string]any, len(ids))
		for i, id := range ids {
			recs[i] = rec(id, "k")
		}
		return ocf(t, workload.SchemaV1, "null", 2, recs...)
	}

	t.Run("store order by partition and start offset", func(t *testing.T) {
		client, _ := fakeStore(t, nil)
		if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		// Listed by key, offset 10 would come before offset 9: a reorder.
		put(t, client, bucket, "topics/e/partition=0/e+0+10.avro", avro(11, 12))
		put(t, client, bucket, "topics/e/partition=0/e+0+9.avro", avro(10))
		put(t, client, bucket, "topics/e/partition=0/e+0+0.avro", avro(1, 2, 3, 4, 5, 6, 7, 8, 9))
		put(t, client, bucket, "topics/e/partition=1/e+1+0.jsonl", []byte(`{"id":13,"key":"k"}`+"\n"))
		put(t, client, bucket, "topics/e/partition=1/e+1+1.avro", []byte("truncated"))
		put(t, client, bucket, "topics/e/partition=1/e+1+2.avro", avro(14))
		put(t, client, bucket, "other/ignored.avro", []byte("outside the prefix"))

		c := New(ackedLedger(14))
		if err := ReadStore(ctx, client, bucket, "topics/", c); err != nil {
			t.Fatal(err)
		}
		r := c.Result()
		if r.Verdict != Illegal || r.Objects != 6 || r.FoundRecords != 14 || r.Reordered != 0 || r.Lost != 0 ||
			!slices.Equal(r.CorruptObjects, []string{"topics/e/partition=1/e+1+1.avro"}) {
			t.Errorf("%s objects=%d corrupt=%v\n%v", r.Summary(), r.Objects, r.CorruptObjects, r.Err())
		}
	})

	t.Run("empty bucket", func(t *testing.T) {
		client, _ := fakeStore(t, nil)
		if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		c := New(ackedLedger(3))
		if err := ReadStore(ctx, client, bucket, "", c); err != nil {
			t.Fatal(err)
		}
		if r := c.Result(); r.Verdict != Illegal || r.Violations[0].Kind != Empty {
			t.Errorf("%s, want illegal and empty", r.Summary())
		}
	})

	t.Run("missing bucket is an empty store", func(t *testing.T) {
		client, _ := fakeStore(t, nil)
		c := New(ackedLedger(3))
		if err := ReadStore(ctx, client, "never-created", "", c); err != nil {
			t.Fatal(err)
		}
		if r := c.Result(); r.Verdict != Illegal || r.Violations[0].Kind != Empty {
			t.Errorf("%s, want illegal and empty", r.Summary())
		}
	})

	denied := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>denied by the test</Message></Error>`))
	}

	t.Run("listing error is unknown", func(t *testing.T) {
		client, _ := fakeStore(t, func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodGet && r.URL.Query().Has("list-type") {
				denied(w)
				return true
			}
			return false
		})
		if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		c := New(ackedLedger(3))
		if err := ReadStore(ctx, client, bucket, "", c); err == nil {
			t.Error("ReadStore returned no error for a failed listing")
		}
		if r := c.Result(); r.Verdict != Unknown || r.Violations[0].Kind != Incomplete {
			t.Errorf("%s\n%v, want unknown", r.Summary(), r.Err())
		}
	})

	t.Run("unreadable object is unknown, not corrupt", func(t *testing.T) {
		client, _ := fakeStore(t, func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "e+0+1.avro") {
				denied(w)
				return true
			}
			return false
		})
		if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		put(t, client, bucket, "topics/e/partition=0/e+0+0.avro", avro(1))
		put(t, client, bucket, "topics/e/partition=0/e+0+1.avro", avro(2))
		c := New(ackedLedger(2))
		if err := ReadStore(ctx, client, bucket, "", c); err == nil {
			t.Error("ReadStore returned no error for an unreadable object")
		}
		if r := c.Result(); r.Verdict != Unknown || len(r.CorruptObjects) != 0 || r.FoundRecords != 1 {
			t.Errorf("%s\n%v, want unknown, nothing corrupt, one record found", r.Summary(), r.Err())
		}
	})
}

func TestEachRecord(t *testing.T) {
	ctx := context.Background()
	const bucket = "sink"
	client, _ := fakeStore(t, nil)
	if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	put(t, client, bucket, "topics/e/partition=0/e+0+2.avro", ocf(t, workload.SchemaV1, "null", 2, rec(3, "k")))
	put(t, client, bucket, "topics/e/partition=0/e+0+0.jsonl", []byte(`{"id":1,"key":"k"}`+"\n"+`{"id":2,"key":"k"}`+"\n"))
	put(t, client, bucket, "other/x.jsonl", []byte(`{"id":9,"key":"k"}`+"\n"))

	var got []string
	err := EachRecord(ctx, client, bucket, "topics/", func(f Found) { got = append(got, fmt.Sprintf("%d@%s", f.ID, f.Object)) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1@topics/e/partition=0/e+0+0.jsonl", "2@topics/e/partition=0/e+0+0.jsonl", "3@topics/e/partition=0/e+0+2.avro"}
	if !slices.Equal(got, want) {
		t.Errorf("records %v, want %v (store order, objects named)", got, want)
	}

	put(t, client, bucket, "topics/e/partition=0/e+0+1.avro", []byte("truncated"))
	got = nil
	err = EachRecord(ctx, client, bucket, "topics/", func(f Found) { got = append(got, f.Object) })
	if err == nil || !strings.Contains(err.Error(), "e+0+1.avro") {
		t.Errorf("a corrupt object gave error %v, want one naming it", err)
	}
	if len(got) != 3 {
		t.Errorf("read %d records around the corrupt object, want the other 3", len(got))
	}
}
