package scenarios_test

// A batch job plugged into silent-stop (scenarios.JobConformance), written
// here as a team would write its own incremental loader — franz-go and
// minio-go, nothing of the harness — with the defect of incident 8 behind
// a flag for the negative control.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/scenarios"
)

// offsetLoader is an incremental batch job: each run lists the topic's
// partitions and end offsets, asks which partitions it owns, reads each
// owned partition from its bookmark up to the end offset listed at the
// start of the run, writes what it read as one JSON-lines object per
// partition, and only then moves its bookmarks. Bookmarks live in memory
// across runs (a team would keep them in a file; the defect is the same).
//
// trustBookmarks is the defect of incident 8: once bookmarks exist, a run
// reads only the partitions they name, and each run replaces them with the
// partitions it owned — so a partition left out of one run is never read
// again, and every run still succeeds.
type offsetLoader struct {
	a              connectors.JobAddresses
	seed           *kgo.Client
	adm            *kadm.Client
	store          *minio.Client
	trustBookmarks bool
	bookmarks      map[int32]int64 // partition → next offset to load
}

func newOffsetLoader(trustBookmarks bool) connectors.JobFactory {
	return func(a connectors.JobAddresses) (connectors.Job, error) {
		store, err := minio.New(a.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(a.S3AccessKey, a.S3SecretKey, "")})
		if err != nil {
			return nil, err
		}
		seed, err := kgo.NewClient(kgo.SeedBrokers(a.Brokers...), kgo.MetadataMinAge(100*time.Millisecond))
		if err != nil {
			return nil, err
		}
		return &offsetLoader{a: a, seed: seed, adm: kadm.NewClient(seed), store: store,
			trustBookmarks: trustBookmarks, bookmarks: map[int32]int64{}}, nil
	}
}

func (j *offsetLoader) RunOnce(ctx context.Context) error {
	ends, err := j.adm.ListEndOffsets(ctx, j.a.Topic)
	if err != nil {
		return err
	}
	if err := ends.Error(); err != nil {
		return err
	}
	var parts []int32
	ends.Each(func(o kadm.ListedOffset) { parts = append(parts, o.Partition) })
	slices.Sort(parts)
	if j.trustBookmarks && len(j.bookmarks) > 0 {
		parts = slices.Sorted(maps.Keys(j.bookmarks))
	}
	todo := map[int32][2]int64{} // partition → [from, end)
	for _, p := range j.a.Assign(parts) {
		end, _ := ends.Lookup(j.a.Topic, p)
		if from := j.bookmarks[p]; end.Offset > from {
			todo[p] = [2]int64{from, end.Offset}
		}
	}
	if err := j.load(ctx, todo); err != nil {
		return err
	}
	next := map[int32]int64{}
	if !j.trustBookmarks {
		maps.Copy(next, j.bookmarks)
	}
	for p, r := range todo {
		next[p] = r[1]
	}
	j.bookmarks = next
	return nil
}

// load reads every partition of todo over [from, end) with one consumer
// and writes one object per partition, named after its first offset.
func (j *offsetLoader) load(ctx context.Context, todo map[int32][2]int64) error {
	if len(todo) == 0 {
		return nil
	}
	starts := map[int32]kgo.Offset{}
	for p, r := range todo {
		starts[p] = kgo.NewOffset().At(r[0])
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(j.a.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{j.a.Topic: starts}))
	if err != nil {
		return err
	}
	defer cl.Close()
	lines := map[int32]*bytes.Buffer{}
	next := map[int32]int64{}
	for p, r := range todo {
		lines[p], next[p] = &bytes.Buffer{}, r[0]
	}
	pending := func() bool {
		for p, r := range todo {
			if next[p] < r[1] {
				return true
			}
		}
		return false
	}
	for pending() {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return ferr
		}
		var bad error
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= todo[r.Partition][1] || bad != nil {
				return
			}
			line, err := loadedLine(r)
			if err != nil {
				bad = err
				return
			}
			lines[r.Partition].Write(line)
			next[r.Partition] = r.Offset + 1
		})
		if bad != nil {
			return bad
		}
	}
	for p, r := range todo {
		key := fmt.Sprintf("%stopics/%s/partition=%d/%s+%d+%d.jsonl", j.a.Prefix, j.a.Topic, p, j.a.Topic, p, r[0])
		b := lines[p]
		if _, err := j.store.PutObject(ctx, j.a.Bucket, key, bytes.NewReader(b.Bytes()), int64(b.Len()),
			minio.PutObjectOptions{ContentType: "application/x-ndjson"}); err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
	}
	return nil
}

// loadedLine is the JSON line a record is loaded as: its ID (from the
// record's ID header) and key.
func loadedLine(r *kgo.Record) ([]byte, error) {
	for _, h := range r.Headers {
		if h.Key != connectors.IDHeader {
			continue
		}
		id, err := strconv.ParseUint(string(h.Value), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("record %d@%d: bad %s header %q", r.Partition, r.Offset, connectors.IDHeader, h.Value)
		}
		line, err := json.Marshal(struct {
			ID  uint64 `json:"id"`
			Key string `json:"key"`
		}{id, string(r.Key)})
		return append(line, '\n'), err
	}
	return nil, fmt.Errorf("record %d@%d has no %s header", r.Partition, r.Offset, connectors.IDHeader)
}

func (j *offsetLoader) Close() { j.seed.Close() }

// TestJobConformanceExample: silent-stop with the loader above. Every
// partition's data must keep reaching the bucket within a second of its
// ack, through the rebalance that takes one partition from one run.
func TestJobConformanceExample(t *testing.T) {
	scenarios.JobConformance(t, newOffsetLoader(false))
}

// TestJobNegativeControl: the loader that trusts its bookmarks is caught
// as a stale partition.
func TestJobNegativeControl(t *testing.T) {
	out := scenarios.RunJobScenario(t, newOffsetLoader(true))
	if out.Error != "" || out.Skipped != "" || len(out.Inconclusive) > 0 {
		t.Fatalf("%s could not judge (seed %d): %s%s%v", out.Scenario, out.Seed, out.Error, out.Skipped, out.Inconclusive)
	}
	if !slices.Contains(out.Consequences, harness.Stale) {
		t.Fatalf("the bookmark-trusting loader was not caught as stale (seed %d): %q", out.Seed, out.Failure)
	}
	t.Logf("caught as %s, seed %d: %s", harness.Stale, out.Seed, out.Failure)
}
