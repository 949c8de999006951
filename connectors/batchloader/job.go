package batchloader

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors/internal/s3store"
)

// Job is an incremental batch job: each RunOnce loads what the topic
// gained since the last successful run. It is safe for concurrent use;
// runs are serialised.
type Job struct {
	cfg   Config
	plan  planner
	adm   *kadm.Client
	admCl *kgo.Client
	store *minio.Client
	tr    *http.Transport
	m     *metrics
	fresh *freshness

	runMu sync.Mutex
	runs  int
}

// planner decides where this run reads each partition from, given the
// stored bookmarks (exists is false before the first successful run ever)
// and what the topic holds. A partition missing from the answer is not read
// by this run.
type planner func(ctx context.Context, j *Job, bm Bookmarks, exists bool, t topicState) (map[int32]int64, error)

// topicState is what the run listed from Kafka: every partition of the
// topic (from its metadata) with its earliest and end offsets.
type topicState struct {
	partitions []int32
	start, end map[int32]int64
	listedAt   time.Time
}

// Report is what one run says about itself — the job's own word, which
// incident 8 shows is not proof of anything.
type Report struct {
	// Run numbers the runs of this Job, from 1.
	Run int
	// Success is true when every object and the bookmarks were written.
	Success bool
	// Err is why the run failed.
	Err error
	// Records loaded and objects written by this run.
	Records int
	Objects int
	// Partitions is how many partitions the run read (up to their end
	// offsets; with no new data they count too).
	Partitions int
	// Bookmarks are the next offsets the run stored, by partition.
	Bookmarks map[int32]int64
	// Reconciled are partitions found without a bookmark and resumed from
	// the group's committed offset or the earliest offset.
	Reconciled []int32
	Elapsed    time.Duration
}

// String phrases the report the way the job's log line would.
func (r Report) String() string {
	switch {
	case !r.Success:
		return fmt.Sprintf("run %d: failed after %s: %v", r.Run, r.Elapsed.Round(time.Millisecond), r.Err)
	case r.Records == 0:
		return fmt.Sprintf("run %d: success, no new data to process (%d partitions)", r.Run, r.Partitions)
	}
	return fmt.Sprintf("run %d: success, %d records from %d partitions in %d objects", r.Run, r.Records, r.Partitions, r.Objects)
}

// New returns the fixed job: every run reconciles its bookmarks with the
// topic's partitions (see reconcile). Close it when done.
func New(cfg Config) (*Job, error) { return newJob(cfg, reconcile) }

func newJob(cfg Config, plan planner) (*Job, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("batchloader config:\n%w", err)
	}
	j := &Job{cfg: cfg, plan: plan}
	var err error
	if j.m, err = newMetrics(cfg.Name, cfg.Registerer); err != nil {
		return nil, err
	}
	j.fresh = newFreshness(cfg.Name, cfg.Topic, cfg.Now)
	if err := j.m.register(j.fresh, cfg.Registerer); err != nil {
		return nil, err
	}
	j.tr = &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second, ResponseHeaderTimeout: 30 * time.Second}
	if j.store, err = newStore(cfg, j.tr); err != nil {
		return nil, err
	}
	j.admCl, err = kgo.NewClient(j.kgoOpts()...)
	if err != nil {
		j.tr.CloseIdleConnections()
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	j.adm = kadm.NewClient(j.admCl)
	return j, nil
}

func (j *Job) kgoOpts(extra ...kgo.Opt) []kgo.Opt {
	opts := append([]kgo.Opt{kgo.SeedBrokers(j.cfg.Brokers...), kgo.FetchMaxWait(100 * time.Millisecond)}, extra...)
	return append(opts, j.cfg.KgoOpts...)
}

// newStore builds the S3 client: path-style addressing, a fixed region.
func newStore(cfg Config, tr *http.Transport) (*minio.Client, error) {
	return s3store.Client(cfg.S3Endpoint, cfg.S3AccessKey, cfg.S3SecretKey, tr, 3)
}

// Close releases the job's clients. A run in progress fails.
func (j *Job) Close() {
	j.admCl.Close()
	j.tr.CloseIdleConnections()
}

// RunOnce runs the job once: read the bookmarks, list the topic, read each
// partition the run owns from its bookmark up to the end offset listed at
// the start of the run, write one object per partition with new records,
// then — only after every object was written — store the new bookmarks
// (and commit them to Group). The returned error is Report.Err.
func (j *Job) RunOnce(ctx context.Context) (Report, error) {
	j.runMu.Lock()
	defer j.runMu.Unlock()
	j.runs++
	rep := Report{Run: j.runs}
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, j.cfg.RunTimeout)
	defer cancel()
	err := j.run(ctx, &rep)
	rep.Elapsed = time.Since(began)
	rep.Success, rep.Err = err == nil, err
	j.m.observeRun(rep)
	j.cfg.Logf("batchloader %s: %s", j.cfg.Name, rep)
	return rep, err
}

func (j *Job) run(ctx context.Context, rep *Report) error {
	bm, exists, err := j.loadBookmarks(ctx)
	if err != nil {
		return err
	}
	t, err := j.listTopic(ctx)
	if err != nil {
		return err
	}
	j.fresh.saw(t, bm)

	from, err := j.plan(ctx, j, bm, exists, t)
	if err != nil {
		return err
	}
	for _, p := range t.partitions {
		if _, had := bm.Partitions[p]; !had && exists {
			if _, planned := from[p]; planned {
				rep.Reconciled = append(rep.Reconciled, p)
			}
		}
	}
	owned := j.cfg.Assignment(slices.Clone(t.partitions))
	work := map[int32]span{}
	for _, p := range owned {
		if f, ok := from[p]; ok {
			work[p] = span{from: f, end: t.end[p]}
		}
	}

	recs, err := j.read(ctx, work)
	if err != nil {
		return err
	}
	for _, p := range sortedKeys(work) {
		if len(recs[p]) == 0 {
			continue
		}
		n, err := j.writeObject(ctx, p, work[p].from, recs[p])
		if err != nil {
			return err // bookmarks stay where they were: the next run redoes this
		}
		rep.Objects++
		rep.Records += len(recs[p])
		j.m.objects.Inc()
		j.m.bytes.Add(float64(n))
	}

	next := Bookmarks{Job: j.cfg.Name, Topic: j.cfg.Topic, Run: bm.Run + 1, WrittenAt: j.cfg.Now(), Partitions: map[int32]Bookmark{}}
	rep.Bookmarks = map[int32]int64{}
	for p, s := range work {
		next.Partitions[p] = Bookmark{Offset: s.end, CompleteAsOf: t.listedAt}
		rep.Bookmarks[p] = s.end
	}
	if err := j.saveBookmarks(ctx, next); err != nil {
		return err
	}
	rep.Partitions = len(work)
	j.m.records.Add(float64(rep.Records))
	j.m.setBookmarks(rep.Bookmarks)
	j.fresh.loaded(next, t)
	j.commitGroup(ctx, rep.Bookmarks)
	return nil
}

// span is the part of a partition a run loads: [from, end).
type span struct{ from, end int64 }

// listTopic lists the topic's partitions from its metadata, with their
// earliest and end offsets.
func (j *Job) listTopic(ctx context.Context) (topicState, error) {
	listedAt := j.cfg.Now()
	ends, err := j.adm.ListEndOffsets(ctx, j.cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return topicState{}, fmt.Errorf("list end offsets of %s: %w", j.cfg.Topic, err)
	}
	starts, err := j.adm.ListStartOffsets(ctx, j.cfg.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return topicState{}, fmt.Errorf("list start offsets of %s: %w", j.cfg.Topic, err)
	}
	t := topicState{start: map[int32]int64{}, end: map[int32]int64{}, listedAt: listedAt}
	ends.Each(func(o kadm.ListedOffset) {
		t.partitions = append(t.partitions, o.Partition)
		t.end[o.Partition] = o.Offset
	})
	starts.Each(func(o kadm.ListedOffset) { t.start[o.Partition] = o.Offset })
	if len(t.partitions) == 0 {
		return topicState{}, fmt.Errorf("topic %s has no partitions (does it exist?)", j.cfg.Topic)
	}
	slices.Sort(t.partitions)
	return t, nil
}

// commitGroup mirrors the bookmarks into Group. A failed commit is logged,
// not fatal: the data and the bookmarks are durable; a stale group offset
// can only make a later reconciliation load a record twice.
func (j *Job) commitGroup(ctx context.Context, next map[int32]int64) {
	if j.cfg.Group == "" || len(next) == 0 {
		return
	}
	os := make(kadm.Offsets)
	for p, o := range next {
		os.Add(kadm.Offset{Topic: j.cfg.Topic, Partition: p, At: o, LeaderEpoch: -1})
	}
	if err := j.adm.CommitAllOffsets(ctx, j.cfg.Group, os); err != nil {
		j.m.commitErrors.Inc()
		j.cfg.Logf("batchloader %s: commit bookmarks to group %s: %v", j.cfg.Name, j.cfg.Group, err)
	}
}

// committed returns the group's committed offsets for the topic.
func (j *Job) committed(ctx context.Context) (map[int32]int64, error) {
	out := map[int32]int64{}
	if j.cfg.Group == "" {
		return out, nil
	}
	offs, err := j.adm.FetchOffsetsForTopics(ctx, j.cfg.Group, j.cfg.Topic)
	if err == nil {
		err = offs.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return out, nil // nothing was ever committed
	}
	if err != nil {
		return nil, fmt.Errorf("fetch committed offsets of group %s: %w", j.cfg.Group, err)
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == j.cfg.Topic && o.Err == nil && o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

func sortedKeys[V any](m map[int32]V) []int32 {
	ks := make([]int32, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

var errShort = errors.New("partitions short of their end offsets")
