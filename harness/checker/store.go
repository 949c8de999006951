package checker

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"
	hocf "github.com/hamba/avro/v2/ocf"
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
//
// Objects are fetched and decoded in parallel (see ReadOptions) and fed to c
// in store order, one object at a time, as if read one by one.
func ReadStore(ctx context.Context, client *minio.Client, bucket, prefix string, c *Checker) error {
	return ReadStoreWith(ctx, client, bucket, prefix, c, ReadOptions{})
}

// ReadOptions tunes ReadStoreWith. Zero values take the defaults.
type ReadOptions struct {
	// Parallel is how many objects are fetched and decoded at once.
	// Default 8.
	Parallel int
	// Progress, if set, is called after each object is fed to the checker
	// with the objects and records fed so far.
	Progress func(objects, records int64)
}

// ReadStoreWith is ReadStore with options.
func ReadStoreWith(ctx context.Context, client *minio.Client, bucket, prefix string, c *Checker, opt ReadOptions) error {
	return walkStore(ctx, client, bucket, prefix, opt, storeVisitor{
		object:     c.Object,
		record:     c.Record,
		corrupt:    c.CorruptObject,
		incomplete: c.Incomplete,
	})
}

// EachRecord calls fn for every record of every object under prefix, in
// store order (Found.Object names the object), with the same listing,
// parallel fetching and decoding as ReadStore. It is for readers other than
// the Checker: a scenario's own question of the bucket (which object holds
// an ID, what IDs a prefix holds). Unlike ReadStore, any object that cannot
// be fetched or decoded makes it return an error, after every other object
// was still read: a caller with no Unknown verdict to give must not take a
// partial read for the whole bucket.
func EachRecord(ctx context.Context, client *minio.Client, bucket, prefix string, fn func(Found)) error {
	var bad []error
	err := walkStore(ctx, client, bucket, prefix, ReadOptions{}, storeVisitor{
		record: fn,
		corrupt: func(key string, err error) {
			bad = append(bad, fmt.Errorf("decode s3://%s/%s: %w", bucket, key, err))
		},
	})
	return errors.Join(append(bad, err)...)
}

// storeVisitor is what walkStore tells its reader, object by object in
// store order. Nil callbacks are skipped.
type storeVisitor struct {
	object     func(key string)
	record     func(Found)
	corrupt    func(key string, err error)
	incomplete func(err error) // a listing or fetch that failed
}

// walkStore lists every object under prefix, sorts them into store order,
// fetches and decodes them in parallel and feeds them to v one object at a
// time, in order. Listing and fetch errors go to v.incomplete and are
// returned joined; a corrupt object goes to v.corrupt only.
func walkStore(ctx context.Context, client *minio.Client, bucket, prefix string, opt ReadOptions, v storeVisitor) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if opt.Parallel <= 0 {
		opt.Parallel = 8
	}
	incomplete := func(err error) {
		if v.incomplete != nil {
			v.incomplete(err)
		}
	}

	objs, errs := listObjects(ctx, client, bucket, prefix)
	for _, err := range errs {
		incomplete(err)
	}
	slices.SortFunc(objs, compareObjects)

	// Up to 2×Parallel objects are fetched, decoded and waiting to be fed
	// at once: a slow object holds back at most that many behind it.
	window := 2 * opt.Parallel
	slots := make([]chan objectBatch, len(objs))
	for i := range slots {
		slots[i] = make(chan objectBatch, 1)
	}
	tokens := make(chan struct{}, window)
	work := make(chan int)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // dispatcher
		defer wg.Done()
		defer close(work)
		for i := range objs {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case work <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range min(opt.Parallel, len(objs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				slots[i] <- fetchObject(ctx, client, bucket, objs[i].key)
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	var objects, records int64
	for i, o := range objs {
		var b objectBatch
		select {
		case b = <-slots[i]:
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			err = fmt.Errorf("read s3://%s/%s: %w", bucket, prefix, err)
			incomplete(err)
			return errors.Join(append(errs, err)...)
		}
		<-tokens
		if v.object != nil {
			v.object(o.key)
		}
		for _, f := range b.records {
			f.Object = o.key
			if v.record != nil {
				v.record(f)
			}
		}
		records += int64(len(b.records))
		objects++
		b.release()
		switch {
		case b.transport != nil:
			err := fmt.Errorf("get s3://%s/%s: %w", bucket, o.key, b.transport)
			incomplete(err)
			errs = append(errs, err)
		case b.corrupt != nil && v.corrupt != nil:
			v.corrupt(o.key, b.corrupt)
		}
		if opt.Progress != nil {
			opt.Progress(objects, records)
		}
	}
	return errors.Join(errs...)
}

// listObjects lists the objects under prefix (directory markers left out).
// A bucket that does not exist holds no objects.
func listObjects(ctx context.Context, client *minio.Client, bucket, prefix string) ([]objectName, []error) {
	var (
		objs []objectName
		errs []error
	)
	for info := range client.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if info.Err != nil {
			if minio.ToErrorResponse(info.Err).Code == minio.NoSuchBucket {
				break
			}
			errs = append(errs, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, info.Err))
			break
		}
		if strings.HasSuffix(info.Key, "/") {
			continue // a directory marker, not an object a sink wrote
		}
		objs = append(objs, parseObjectName(info.Key))
	}
	return objs, errs
}

// objectBatch is one object's records, decoded by a worker and waiting to
// be fed to the checker (Found.Object is filled in then), with how the
// object ended: read whole, corrupt, or not fetched.
type objectBatch struct {
	records   []Found
	corrupt   error
	transport error
}

var batchPool = sync.Pool{New: func() any { return new([]Found) }}

func (b *objectBatch) release() {
	if cap(b.records) > 0 && cap(b.records) <= 1<<20 {
		r := b.records[:0]
		batchPool.Put(&r)
	}
	b.records = nil
}

// fetchObject fetches and decodes one object. Transport errors (the fetch
// failed, the connection broke) are told apart from decoding errors.
func fetchObject(ctx context.Context, client *minio.Client, bucket, key string) objectBatch {
	var b objectBatch
	b.records = (*batchPool.Get().(*[]Found))[:0]
	obj, err := client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		b.transport = err
		return b
	}
	defer obj.Close()
	r := &transportReader{r: obj}
	if err := DecodeObject(key, r, func(f Found) { b.records = append(b.records, f) }); err != nil {
		if r.err != nil {
			b.transport = r.err
		} else {
			b.corrupt = err
		}
	}
	return b
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
	return decodeObject(key, r, fn)
}

// readerPool and blockPool keep the buffers of objects decoded before:
// a bucket of 10,000 objects would otherwise allocate them 10,000 times.
var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}
	blockPool  = sync.Pool{New: func() any { return new([]byte) }}
)

func decodeObject(key string, r io.Reader, fn func(Found)) error {
	partition := parseObjectName(key).partition
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() { br.Reset(nil); readerPool.Put(br) }()
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

// decodeAvro decodes an Object Container File. hamba/avro decodes it where
// the writer schema has the shape the checker reads fast (a record whose
// "id" is a long, or a union of null and long, and whose "key", if present,
// is a string or a union of null and string), skipping every other field
// without decoding it. Any other schema, or one hamba does not take, goes
// to goavro's generic decoder, which also words the errors of odd schemas
// (no "id", an "id" that is not a number). Both read the same bytes: what
// was read of the header is replayed to goavro.
//
// For the codecs a sink writes ("null", "deflate") the container's blocks
// are walked here, with hamba reading the header and every value: the
// parsed writer schema is then shared by every object that names the same
// one (a bucket of 10,000 objects has one or two schemas, and parsing one
// costs as much as decoding a few hundred records), and a block's declared
// size is checked against a bound before anything is allocated. Other
// codecs (snappy, zstandard) go through hamba's own OCF decoder.
func decodeAvro(key string, partition int32, r io.Reader, fn func(Found)) (err error) {
	rec := &replayReader{r: r}
	ar := avro.NewReader(rec, 32<<10)
	var h hocf.Header
	ar.ReadVal(hocf.HeaderSchema, &h)
	var schema avro.Schema
	if ar.Error == nil && h.Magic == ocfMagic {
		schema = writerSchema(h.Meta["avro.schema"])
	}
	codec := string(h.Meta["avro.codec"])
	replay := func() io.Reader { return io.MultiReader(bytes.NewReader(rec.buf), r) }
	switch {
	case schema == nil || !fastShape(schema):
		return decodeAvroGeneric(key, partition, replay(), fn)
	}
	idOpt, keyOpt := shapeOf(schema)
	if codec != "" && codec != "null" && codec != "deflate" {
		switch {
		case !idOpt && !keyOpt:
			return decodeOCF[recLL](key, partition, replay(), fn)
		case !idOpt:
			return decodeOCF[recLU](key, partition, replay(), fn)
		case !keyOpt:
			return decodeOCF[recUL](key, partition, replay(), fn)
		}
		return decodeOCF[recUU](key, partition, replay(), fn)
	}
	rec.buf, rec.stop = nil, true

	raw := blockPool.Get().(*[]byte)
	blocks := &blockReader{ar: ar, sync: h.Sync, deflate: codec == "deflate", raw: *raw}
	defer func() {
		if cap(blocks.raw) <= 16<<20 {
			*raw = blocks.raw[:0]
			blockPool.Put(raw)
		}
	}()
	switch {
	case !idOpt && !keyOpt:
		return decodeFast[recLL](key, partition, schema, blocks, fn)
	case !idOpt:
		return decodeFast[recLU](key, partition, schema, blocks, fn)
	case !keyOpt:
		return decodeFast[recUL](key, partition, schema, blocks, fn)
	}
	return decodeFast[recUU](key, partition, schema, blocks, fn)
}

var ocfMagic = [4]byte{'O', 'b', 'j', 1}

// maxBlockBytes bounds one block of an object (compressed or not): a sink
// flushes far smaller ones; a larger declared size is a corrupt object.
const maxBlockBytes = 256 << 20

// writerSchemas caches parsed writer schemas by their text.
var writerSchemas struct {
	sync.Mutex
	m map[string]avro.Schema
}

// writerSchema parses text (cached), or returns nil if hamba does not take
// it. Each schema is parsed with its own cache of named types: two objects
// may define the same name differently.
func writerSchema(text []byte) avro.Schema {
	writerSchemas.Lock()
	defer writerSchemas.Unlock()
	if s, ok := writerSchemas.m[string(text)]; ok {
		return s
	}
	s, err := avro.ParseBytesWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		s = nil
	}
	if writerSchemas.m == nil || len(writerSchemas.m) >= 256 {
		writerSchemas.m = map[string]avro.Schema{}
	}
	writerSchemas.m[string(text)] = s
	return s
}

// blockReader walks an object container file's data blocks.
type blockReader struct {
	ar      *avro.Reader
	sync    [16]byte
	deflate bool
	raw     []byte
	out     bytes.Buffer
	fl      io.ReadCloser
}

// next returns the next block's record count and (uncompressed) bytes;
// count 0 and no error at the end of the object.
func (b *blockReader) next() (int64, []byte, error) {
	for {
		_ = b.ar.Peek()
		if b.ar.Error == io.EOF {
			return 0, nil, nil
		}
		if b.ar.Error != nil {
			return 0, nil, b.ar.Error
		}
		count := b.ar.ReadLong()
		size := b.ar.ReadLong()
		if b.ar.Error != nil {
			return 0, nil, fmt.Errorf("block header: %w", noEOF(b.ar.Error))
		}
		if count < 0 || size < 0 || size > maxBlockBytes {
			return 0, nil, fmt.Errorf("block of %d records in %d bytes: out of bounds", count, size)
		}
		if int64(cap(b.raw)) < size {
			b.raw = make([]byte, size)
		}
		data := b.raw[:size]
		b.ar.Read(data)
		var sync [16]byte
		b.ar.Read(sync[:])
		if b.ar.Error != nil {
			return 0, nil, noEOF(b.ar.Error)
		}
		if sync != b.sync {
			return 0, nil, errors.New("block does not end with the file's sync marker")
		}
		if count == 0 {
			continue
		}
		if b.deflate {
			b.out.Reset()
			if b.fl == nil {
				b.fl = flate.NewReader(bytes.NewReader(data))
			} else if err := b.fl.(flate.Resetter).Reset(bytes.NewReader(data), nil); err != nil {
				return 0, nil, err
			}
			if _, err := b.out.ReadFrom(io.LimitReader(b.fl, maxBlockBytes+1)); err != nil {
				return 0, nil, fmt.Errorf("deflate: %w", err)
			}
			if b.out.Len() > maxBlockBytes {
				return 0, nil, errors.New("deflate: block inflates past the bound")
			}
			data = b.out.Bytes()
		}
		return count, data, nil
	}
}

// noEOF reads an end of input inside a block as what it is: truncation.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func decodeFast[T any, P fastRec[T]](key string, partition int32, schema avro.Schema, blocks *blockReader, fn func(Found)) error {
	n := 0
	var v T
	br := avro.NewReader(nil, 0)
	for {
		count, data, err := blocks.next()
		if err != nil {
			return fmt.Errorf("avro record %d: %w", n, err)
		}
		if count == 0 {
			return nil
		}
		br.Reset(data)
		for range count {
			var zero T
			v = zero // a null union leaves no value behind
			br.ReadVal(schema, &v)
			if br.Error != nil {
				return fmt.Errorf("avro record %d: %w", n, noEOF(br.Error))
			}
			id, ok, k := P(&v).get()
			if !ok {
				return fmt.Errorf(`avro record %d: no "id" field`, n)
			}
			if id < 0 {
				return fmt.Errorf(`avro record %d: field "id" is negative: %d`, n, id)
			}
			fn(Found{ID: uint64(id), Key: k, Partition: partition, Object: key})
			n++
		}
	}
}

// decodeOCF decodes a fast-shaped object with hamba's own OCF decoder
// (codecs other than null and deflate).
func decodeOCF[T any, P fastRec[T]](key string, partition int32, r io.Reader, fn func(Found)) (err error) {
	dec, err := hocf.NewDecoder(r, hocf.WithDecoderSchemaCache(&avro.SchemaCache{}))
	if err != nil {
		return fmt.Errorf("avro: %w", err)
	}
	defer func() {
		// hamba's block reader allocates a block's declared size: a
		// corrupt (negative) one panics. That is a corrupt object.
		if p := recover(); p != nil {
			err = fmt.Errorf("avro: corrupt block: %v", p)
		}
	}()
	n := 0
	var v T
	for dec.HasNext() {
		var zero T
		v = zero
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("avro record %d: %w", n, err)
		}
		id, ok, k := P(&v).get()
		if !ok {
			return fmt.Errorf(`avro record %d: no "id" field`, n)
		}
		if id < 0 {
			return fmt.Errorf(`avro record %d: field "id" is negative: %d`, n, id)
		}
		fn(Found{ID: uint64(id), Key: k, Partition: partition, Object: key})
		n++
	}
	if err := dec.Error(); err != nil {
		return fmt.Errorf("avro record %d: %w", n, err)
	}
	return nil
}

// The records the fast path decodes, by shape: a plain or optional (union
// with null) "id" and "key". hamba skips every other field.
type (
	recLL struct {
		ID  int64  `avro:"id"`
		Key string `avro:"key"`
	}
	recLU struct {
		ID  int64   `avro:"id"`
		Key *string `avro:"key"`
	}
	recUL struct {
		ID  *int64 `avro:"id"`
		Key string `avro:"key"`
	}
	recUU struct {
		ID  *int64  `avro:"id"`
		Key *string `avro:"key"`
	}
)

func (r *recLL) get() (int64, bool, string) { return r.ID, true, r.Key }
func (r *recLU) get() (int64, bool, string) { return r.ID, true, deref(r.Key) }
func (r *recUL) get() (int64, bool, string) {
	if r.ID == nil {
		return 0, false, r.Key
	}
	return *r.ID, true, r.Key
}
func (r *recUU) get() (int64, bool, string) {
	if r.ID == nil {
		return 0, false, deref(r.Key)
	}
	return *r.ID, true, deref(r.Key)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

type fastRec[T any] interface {
	*T
	get() (id int64, ok bool, key string)
}

// shapeOf says whether a fastShape schema's "id" and "key" are unions.
func shapeOf(s avro.Schema) (idOpt, keyOpt bool) {
	for _, f := range s.(*avro.RecordSchema).Fields() {
		_, u := f.Type().(*avro.UnionSchema)
		switch f.Name() {
		case "id":
			idOpt = u
		case "key":
			keyOpt = u
		}
	}
	return idOpt, keyOpt
}

// fastShape reports whether s is a record schema fastRecord reads exactly.
func fastShape(s avro.Schema) bool {
	rs, ok := s.(*avro.RecordSchema)
	if !ok {
		return false
	}
	var hasID bool
	for _, f := range rs.Fields() {
		switch f.Name() {
		case "id":
			hasID = plainOrOptional(f.Type(), avro.Long)
			if !hasID {
				return false
			}
		case "key":
			if !plainOrOptional(f.Type(), avro.String) {
				return false
			}
		}
	}
	return hasID
}

// plainOrOptional: t is the primitive want (no logical type), or a union of
// null and it.
func plainOrOptional(t avro.Schema, want avro.Type) bool {
	if u, ok := t.(*avro.UnionSchema); ok {
		ts := u.Types()
		if len(ts) != 2 || !u.Nullable() {
			return false
		}
		for _, x := range ts {
			if x.Type() != avro.Null {
				t = x
			}
		}
	}
	p, ok := t.(*avro.PrimitiveSchema)
	return ok && p.Type() == want && p.Logical() == nil
}

// replayReader remembers what it read until stop, so that the bytes hamba
// consumed reading a header can be given to goavro.
type replayReader struct {
	r    io.Reader
	buf  []byte
	stop bool
}

func (p *replayReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if !p.stop {
		p.buf = append(p.buf, b[:n]...)
	}
	return n, err
}

func decodeAvroGeneric(key string, partition int32, r io.Reader, fn func(Found)) error {
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
