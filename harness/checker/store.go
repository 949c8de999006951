package checker

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/linkedin/goavro/v2"
	"github.com/minio/minio-go/v7"
)

// ReadStore lists every object under prefix in bucket (recursively), sorts
// them into store order (see objectName), decodes each and feeds its records
// to c. An object that fails to decode is reported to c as corrupt and the
// others are still read. A listing error, or an object that cannot be
// fetched, is reported to c as Incomplete (the verdict becomes Unknown
// unless something definite was found) and returned; objects already listed
// are still read. A bucket that does not exist is an empty store, not an
// error: the sink never wrote anything.
func ReadStore(ctx context.Context, client *minio.Client, bucket, prefix string, c *Checker) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		objs []objectName
		errs []error
	)
	for info := range client.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if info.Err != nil {
			if minio.ToErrorResponse(info.Err).Code == minio.NoSuchBucket {
				break
			}
			err := fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, info.Err)
			c.Incomplete(err)
			errs = append(errs, err)
			break
		}
		if strings.HasSuffix(info.Key, "/") {
			continue // a directory marker, not an object a sink wrote
		}
		objs = append(objs, parseObjectName(info.Key))
	}
	slices.SortFunc(objs, compareObjects)

	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			err = fmt.Errorf("read s3://%s/%s: %w", bucket, prefix, err)
			c.Incomplete(err)
			return errors.Join(append(errs, err)...)
		}
		c.Object(o.key)
		if err := readObject(ctx, client, bucket, o.key, c); err != nil {
			err = fmt.Errorf("get s3://%s/%s: %w", bucket, o.key, err)
			c.Incomplete(err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readObject feeds one object's records to c. It returns only transport
// errors; a decoding error is reported to c as a corrupt object.
func readObject(ctx context.Context, client *minio.Client, bucket, key string, c *Checker) error {
	obj, err := client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	r := &transportReader{r: obj}
	if err := DecodeObject(key, r, c.Record); err != nil {
		if r.err != nil {
			return r.err
		}
		c.CorruptObject(key, err)
	}
	return nil
}

// transportReader remembers the first error of the reader it wraps, so that
// a failed fetch is not mistaken for a corrupt object.
type transportReader struct {
	r   io.Reader
	err error
}

func (t *transportReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// DecodeObject decodes the object named key from r and calls fn for each
// record in object order. Objects ending in .avro are Avro Object Container
// Files; .json and .jsonl are JSON objects, one per line; other names are
// recognised by their first bytes. Every record must have an integer "id"
// (≥ 0); a missing "key" reads as "". The partition of every record is the
// one in the object's name (see objectName), or -1.
//
// A non-nil error means the object is corrupt (or r failed); records decoded
// before the error have already been passed to fn.
func DecodeObject(key string, r io.Reader, fn func(Found)) error {
	partition := parseObjectName(key).partition
	br := bufio.NewReaderSize(r, 64<<10)
	switch ext := path.Ext(key); ext {
	case ".avro":
		return decodeAvro(key, partition, br, fn)
	case ".json", ".jsonl":
		return decodeJSON(key, partition, br, fn)
	}
	head, err := br.Peek(512)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return err
	}
	trimmed := bytes.TrimLeft(head, " \t\r\n")
	switch {
	case bytes.HasPrefix(head, []byte("Obj\x01")):
		return decodeAvro(key, partition, br, fn)
	case len(head) == 0:
		return nil // an empty object holds no records
	case len(trimmed) > 0 && trimmed[0] == '{':
		return decodeJSON(key, partition, br, fn)
	}
	return fmt.Errorf("unknown object format (starts with %q)", head[:min(len(head), 8)])
}

func decodeAvro(key string, partition int32, r io.Reader, fn func(Found)) error {
	ocf, err := goavro.NewOCFReader(r)
	if err != nil {
		return fmt.Errorf("avro: %w", err)
	}
	n := 0
	for ocf.Scan() {
		d, err := ocf.Read()
		if err != nil {
			return fmt.Errorf("avro record %d: %w", n, err)
		}
		rec, ok := d.(map[string]any)
		if !ok {
			return fmt.Errorf("avro record %d: not a record but %T", n, d)
		}
		id, err := avroID(rec["id"])
		if err != nil {
			return fmt.Errorf("avro record %d: %w", n, err)
		}
		k, err := avroKey(rec["key"])
		if err != nil {
			return fmt.Errorf("avro record %d: %w", n, err)
		}
		fn(Found{ID: id, Key: k, Partition: partition, Object: key})
		n++
	}
	if err := ocf.Err(); err != nil {
		return fmt.Errorf("avro record %d: %w", n, err)
	}
	return nil
}

func avroID(v any) (uint64, error) {
	var id int64
	switch v := unwrapUnion(v).(type) {
	case int64:
		id = v
	case int32:
		id = int64(v)
	case nil:
		return 0, errors.New(`no "id" field`)
	default:
		return 0, fmt.Errorf(`field "id" is %T, not a long`, v)
	}
	if id < 0 {
		return 0, fmt.Errorf(`field "id" is negative: %d`, id)
	}
	return uint64(id), nil
}

// unwrapUnion returns the value of a non-null union, which goavro decodes
// as a one-entry map from the branch's type name: {"long": 7}.
func unwrapUnion(v any) any {
	if u, ok := v.(map[string]any); ok && len(u) == 1 {
		for _, w := range u {
			return w
		}
	}
	return v
}

func avroKey(v any) (string, error) {
	switch v := unwrapUnion(v).(type) {
	case string:
		return v, nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf(`field "key" is %T, not a string`, v)
}

func decodeJSON(key string, partition int32, r io.Reader, fn func(Found)) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	for n := 0; ; n++ {
		var rec struct {
			ID  *json.Number `json:"id"`
			Key *string      `json:"key"`
		}
		if err := dec.Decode(&rec); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("json record %d: %w", n, err)
		}
		if rec.ID == nil {
			return fmt.Errorf(`json record %d: no "id" field`, n)
		}
		id, err := strconv.ParseUint(rec.ID.String(), 10, 64)
		if err != nil {
			return fmt.Errorf(`json record %d: field "id": %w`, n, err)
		}
		f := Found{ID: id, Partition: partition, Object: key}
		if rec.Key != nil {
			f.Key = *rec.Key
		}
		fn(f)
	}
}

// objectName is what an object's key says about where it belongs. A sink
// names objects deterministically, Kafka Connect style:
//
//	[prefix/]topics/<topic>/partition=<p>/<topic>+<p>+<startOffset>.<ext>
//
// Store order is by partition, then named objects by start offset, then
// other objects by key. An object whose name does not follow the pattern
// takes its partition from a "partition=<p>" path segment, or -1.
type objectName struct {
	key       string
	partition int32
	named     bool // the base name carries partition and start offset
	offset    int64
}

func parseObjectName(key string) objectName {
	o := objectName{key: key, partition: -1, offset: -1}
	segs := strings.Split(key, "/")
	segPartition := int32(-1)
	hasSeg := false
	for _, s := range segs[:len(segs)-1] {
		if v, ok := strings.CutPrefix(s, "partition="); ok {
			if p, err := strconv.ParseInt(v, 10, 32); err == nil {
				segPartition, hasSeg = int32(p), true
			}
		}
	}
	o.partition = segPartition

	base := segs[len(segs)-1]
	switch ext := path.Ext(base); ext {
	case ".avro", ".json", ".jsonl":
		base = strings.TrimSuffix(base, ext)
	default:
		return o
	}
	fields := strings.Split(base, "+")
	if len(fields) < 3 || fields[0] == "" {
		return o
	}
	p, err1 := strconv.ParseInt(fields[len(fields)-2], 10, 32)
	off, err2 := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err1 != nil || err2 != nil || p < 0 || off < 0 || (hasSeg && int32(p) != segPartition) {
		return o
	}
	o.partition, o.named, o.offset = int32(p), true, off
	return o
}

func compareObjects(a, b objectName) int {
	return cmp.Or(
		cmp.Compare(a.partition, b.partition),
		cmp.Compare(unnamed(a), unnamed(b)),
		cmp.Compare(a.offset, b.offset),
		strings.Compare(a.key, b.key),
	)
}

func unnamed(o objectName) int {
	if o.named {
		return 0
	}
	return 1
}
