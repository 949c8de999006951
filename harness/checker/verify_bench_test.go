package checker_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/pipechaos/pipechaos/fakes/httpfault"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/workload"
)

var (
	verifyRecords      = flag.Int("verify.records", 10_000_000, "records in BenchmarkVerifyBucket's embedded-store bucket")
	verifyParallel     = flag.Int("verify.parallel", 8, "objects fetched at once (ReadOptions.Parallel, the raw read too)")
	verifyMinioRecords = flag.Int("verify.minio-records", 1_000_000, "records in BenchmarkVerifyBucket's MinIO bucket")
)

// minioBinary is the MinIO server images/build.sh builds.
var minioBinary = filepath.Join(os.Getenv("HOME"), ".cache/pipechaos/bin/minio-v0.0.0-20260212201848-7aac2a2c5b7c")

const (
	benchBucket      = "sink"
	benchPartitions  = 12
	benchPerObject   = 1000 // the s3sink's default flush size
	benchPayloadSize = 64   // the workload's default payload
)

// BenchmarkVerifyBucket verifies a bucket of workload records (schema v1,
// 64-byte payloads) as the s3sink writes them (one null-codec block of
// 1000 records per object, Connect-style names, 12 partitions): listing,
// parallel fetching, decoding and checking every record against a ledger
// of them all acked. Writing the bucket is setup, outside the timing.
//
// Reported: records/s of verification and x-raw-read: that rate over the
// rate of GET-and-discard of the same objects, with the same client and
// parallelism, from the same store in the same run (goal ≥ 0.5). embedded
// is gofakes3 behind fakes/httpfault, as the embedded backend serves it
// (-verify.records, default 10M); minio is the MinIO server binary run as
// a process (-verify.minio-records, default 1M), skipped if absent.
func BenchmarkVerifyBucket(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		n := *verifyRecords
		cl := embeddedStore(b, n)
		benchVerify(b, cl, n)
	})
	b.Run("minio", func(b *testing.B) {
		n := *verifyMinioRecords
		cl := minioStore(b)
		t0 := time.Now()
		putObjects(b, n, func(key string, data []byte) error {
			_, err := cl.PutObject(context.Background(), benchBucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
			return err
		})
		b.Logf("setup: %d records written to MinIO in %s", n, time.Since(t0).Round(time.Millisecond))
		benchVerify(b, cl, n)
	})
}

func benchVerify(b *testing.B, cl *minio.Client, n int) {
	ctx := context.Background()
	l := checker.NewLedger()
	for id := uint64(1); id <= uint64(n); id++ {
		l.Ack(id)
	}
	var verify, raw time.Duration
	for b.Loop() {
		t0 := time.Now()
		rawBytes := rawRead(b, cl)
		raw += time.Since(t0)
		t0 = time.Now()
		c := checker.New(l)
		if err := checker.ReadStoreWith(ctx, cl, benchBucket, "topics/", c, checker.ReadOptions{Parallel: *verifyParallel}); err != nil {
			b.Fatal(err)
		}
		res := c.Result()
		verify += time.Since(t0)
		if res.Verdict != checker.Ok || res.FoundUnique != n {
			b.Fatalf("%s\n%v", res.Summary(), res.Err())
		}
		b.SetBytes(rawBytes)
	}
	rate := float64(n) * float64(b.N) / verify.Seconds()
	rawRate := float64(n) * float64(b.N) / raw.Seconds()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(rawRate, "raw-records/s")
	b.ReportMetric(rate/rawRate, "x-raw-read")
}

// rawRead lists the bucket and GETs every object, discarding the bytes,
// with ReadStore's default parallelism; it returns the bytes read.
func rawRead(b *testing.B, cl *minio.Client) int64 {
	ctx := context.Background()
	var keys []string
	for info := range cl.ListObjectsIter(ctx, benchBucket, minio.ListObjectsOptions{Prefix: "topics/", Recursive: true}) {
		if info.Err != nil {
			b.Fatal(info.Err)
		}
		keys = append(keys, info.Key)
	}
	work := make(chan string)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
		ferr  error
	)
	for range *verifyParallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for k := range work {
				obj, err := cl.GetObject(ctx, benchBucket, k, minio.GetObjectOptions{})
				var n int64
				if err == nil {
					n, err = io.CopyBuffer(io.Discard, obj, buf)
					obj.Close()
				}
				mu.Lock()
				total += n
				if err != nil && ferr == nil {
					ferr = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	if ferr != nil {
		b.Fatal(ferr)
	}
	return total
}

// putObjects encodes n workload records into objects and hands each to put,
// from two goroutines.
func putObjects(b *testing.B, n int, put func(key string, data []byte) error) {
	schema := avro.MustParse(workload.SchemaV1)
	type event struct {
		ID       int64  `avro:"id"`
		Key      string `avro:"key"`
		Produced int64  `avro:"produced_at_us"`
		Payload  []byte `avro:"payload"`
	}
	objects := (n + benchPerObject - 1) / benchPerObject
	work := make(chan int)
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(1))
			payload := make([]byte, benchPayloadSize)
			var buf bytes.Buffer
			for o := range work {
				p := o % benchPartitions
				first := o*benchPerObject + 1
				last := min(first+benchPerObject-1, n)
				buf.Reset()
				enc, err := ocf.NewEncoderWithSchema(schema, &buf, ocf.WithBlockLength(benchPerObject))
				if err != nil {
					errs <- err
					return
				}
				for id := first; id <= last; id++ {
					rng.Read(payload)
					e := event{ID: int64(id), Key: fmt.Sprintf("key-%02d", id%64), Produced: int64(id), Payload: payload}
					if err := enc.Encode(e); err != nil {
						errs <- err
						return
					}
				}
				if err := enc.Close(); err != nil {
					errs <- err
					return
				}
				key := fmt.Sprintf("topics/events/partition=%d/events+%d+%d.avro", p, p, o/benchPartitions*benchPerObject)
				if err := put(key, bytes.Clone(buf.Bytes())); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for o := 0; o < objects; o++ {
		select {
		case work <- o:
		case err := <-errs:
			b.Fatal(err)
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// embeddedStore is the embedded backend's store (gofakes3, in-memory,
// behind the fault layer) holding n records; the bucket is written straight
// into the backend, not through HTTP (setup, not timed).
func embeddedStore(b *testing.B, n int) *minio.Client {
	backend := s3mem.New()
	if err := backend.CreateBucket(benchBucket); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	var mu sync.Mutex
	putObjects(b, n, func(key string, data []byte) error {
		mu.Lock()
		defer mu.Unlock()
		meta := map[string]string{"Last-Modified": time.Now().UTC().Format(http.TimeFormat)}
		_, err := backend.PutObject(benchBucket, key, meta, bytes.NewReader(data), int64(len(data)), nil)
		return err
	})
	b.Logf("setup: %d records written to the embedded store in %s", n, time.Since(t0).Round(time.Millisecond))
	faker := gofakes3.New(backend, gofakes3.WithIntegrityCheck(true))
	layer := httpfault.New(faker.Server(), httpfault.ErrorBody(httpfault.S3ErrorBody))
	srv, err := httpfault.Serve(layer, "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Stop() })
	return storeClient(b, srv.Addr(), "pipechaos", "pipechaos-secret")
}

func storeClient(b *testing.B, endpoint, access, secret string) *minio.Client {
	cl, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(access, secret, "")})
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// minioStore runs the MinIO server binary on a free loopback port with an
// empty data directory, and returns a client for it with the bucket made.
// The process is killed when the benchmark ends.
func minioStore(b *testing.B) *minio.Client {
	if _, err := os.Stat(minioBinary); err != nil {
		b.Skipf("MinIO server binary not found at %s (images/build.sh builds it): %v", minioBinary, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const user, pass = "pipechaos", "pipechaos-secret"
	cmd := exec.Command(minioBinary, "server", "--quiet", "--address", addr, b.TempDir())
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+user, "MINIO_ROOT_PASSWORD="+pass, "MINIO_BROWSER=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatalf("start minio: %v", err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("minio at %s not ready after 60s: %s", addr, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cl := storeClient(b, addr, user, pass)
	if err := cl.MakeBucket(context.Background(), benchBucket, minio.MakeBucketOptions{}); err != nil {
		b.Fatal(err)
	}
	return cl
}
