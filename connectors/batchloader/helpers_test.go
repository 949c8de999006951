package batchloader

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
	"github.com/pipechaos/pipechaos/harness/workload"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rig is one embedded environment with a topic, a producer that numbers
// its records like the workload does, and a ledger of what was acked.
type rig struct {
	t      *testing.T
	e      *embedded.Environment
	topic  string
	prod   *kgo.Client
	store  *minio.Client
	nextID uint64

	mu     sync.Mutex
	ledger *checker.Ledger
	acked  map[int32]int
}

func newRig(t *testing.T, partitions int32) *rig {
	t.Helper()
	e, err := embedded.New(t, env.Config{BrokersPerRegion: 1})
	if err != nil {
		t.Fatalf("start embedded environment: %v", err)
	}
	r := &rig{t: t, e: e, topic: "events", nextID: 1, ledger: checker.NewLedger(), acked: map[int32]int{}}
	ctx := context.Background()
	if err := e.Region(env.Primary).CreateTopic(ctx, r.topic, partitions); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if r.prod, err = e.Region(env.Primary).Client(kgo.DefaultProduceTopic(r.topic)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.prod.Close)
	if r.store, err = harness.StoreClient(e.Store()); err != nil {
		t.Fatal(err)
	}
	return r
}

// produce writes n records with keys spread over every partition and
// waits for their acks.
func (r *rig) produce(n int) {
	r.t.Helper()
	var recs []*kgo.Record
	for range n {
		id := r.nextID
		r.nextID++
		r.ledger.Attempt(id)
		recs = append(recs, &kgo.Record{
			Key:     []byte("key-" + strconv.FormatUint(id%16, 10)),
			Value:   []byte("v"),
			Headers: []kgo.RecordHeader{{Key: workload.IDHeader, Value: []byte(strconv.FormatUint(id, 10))}},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, res := range r.prod.ProduceSync(ctx, recs...) {
		if res.Err != nil {
			r.t.Fatalf("produce: %v", res.Err)
		}
		id, _ := workload.RecordID(res.Record)
		r.mu.Lock()
		r.ledger.Ack(id)
		r.acked[res.Record.Partition]++
		r.mu.Unlock()
	}
}

// config is a job config for the rig's environment.
func (r *rig) config(name string) Config {
	reg := r.e.Region(env.Primary)
	st := r.e.Store()
	return Config{
		Brokers:     reg.Bootstrap(),
		Topic:       r.topic,
		Name:        name,
		S3Endpoint:  st.Endpoint(),
		S3AccessKey: st.AccessKey(),
		S3SecretKey: st.SecretKey(),
		Bucket:      st.Bucket(),
		RunTimeout:  10 * time.Second,
		Logf:        r.t.Logf,
		KgoOpts:     env.ClientOpts(reg.Bootstrap()),
	}
}

func (r *rig) job(newJob func(Config) (*Job, error), cfg Config) *Job {
	r.t.Helper()
	j, err := newJob(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(j.Close)
	return j
}

// runOK runs j once and fails the test unless the run succeeded.
func (r *rig) runOK(j *Job) Report {
	r.t.Helper()
	rep, err := j.RunOnce(context.Background())
	if err != nil || !rep.Success {
		r.t.Fatalf("run failed: %v", err)
	}
	return rep
}

// check reads what the job loaded and checks it against the acks.
func (r *rig) check(prefix string, opts ...checker.Option) checker.Result {
	r.t.Helper()
	c := checker.New(r.ledger, opts...)
	if err := checker.ReadStore(context.Background(), r.store, r.e.Store().Bucket(), prefix, c); err != nil {
		r.t.Fatalf("read store: %v", err)
	}
	return c.Result()
}

// bookmarks reads the job's bookmark file.
func (r *rig) bookmarks(j *Job) Bookmarks {
	r.t.Helper()
	b, ok, err := j.loadBookmarks(context.Background())
	if err != nil || !ok {
		r.t.Fatalf("bookmarks: exists %v, %v", ok, err)
	}
	return b
}

// without returns an Assignment that owns every partition but p.
func without(p int32) func([]int32) []int32 {
	return func(ps []int32) []int32 {
		var out []int32
		for _, q := range ps {
			if q != p {
				out = append(out, q)
			}
		}
		return out
	}
}

// envFault503 answers every PUT with 503 SlowDown.
func envFault503() env.HTTPFault {
	return env.HTTPFault{Status: 503, Code: "SlowDown", Methods: []string{"PUT"}}
}
