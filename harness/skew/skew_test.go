package skew

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hotSample is 1000 samples over 8 partitions: "tenant-42" holds 610 of
// them, all in partition 3; 390 other keys spread evenly.
func hotSample() []Sample {
	var s []Sample
	for range 610 {
		s = append(s, Sample{Key: "tenant-42", Partition: 3})
	}
	for i := range 390 {
		s = append(s, Sample{Key: fmt.Sprintf("k-%03d", i), Partition: int32(i % 8)})
	}
	return s
}

func TestProfileFailsFastNamingTheHotKey(t *testing.T) {
	rep := Profile(hotSample(), Thresholds{})
	require.True(t, rep.Skewed)
	require.Equal(t, 1000, rep.Samples)
	require.Equal(t, 391, rep.Keys)
	require.Equal(t, KeyCount{Key: "tenant-42", Count: 610, Share: 0.61}, rep.Top[0])
	require.Len(t, rep.Top, 5)
	require.Equal(t, int32(3), rep.Largest)
	require.InDelta(t, 659.0/125, rep.Ratio, 1e-9) // 610 + 49 others in partition 3
	err := rep.Err()
	require.ErrorIs(t, err, ErrSkewed)
	require.EqualError(t, err, `key "tenant-42" holds 61% of the sample; partition 3 holds 5.3x the mean: salt the key or raise the threshold`)
	require.Equal(t, []string{"tenant-42"}, rep.Hot())
	require.Contains(t, rep.String(), "SKEWED")
}

func TestProfileOfAnEvenSampleIsNotSkewed(t *testing.T) {
	var s []Sample
	for i := range 1000 {
		s = append(s, Sample{Key: fmt.Sprintf("k-%02d", i%64), Partition: int32(i % 4)})
	}
	rep := Profile(s, Thresholds{})
	require.False(t, rep.Skewed, rep.String())
	require.NoError(t, rep.Err())
	require.InDelta(t, 1.0, rep.Ratio, 1e-9)
	require.Empty(t, rep.Hot())
	require.Equal(t, Plan{}, PlanFor(rep, 16))
}

func TestProfileThresholds(t *testing.T) {
	// Raising both thresholds above what the sample shows clears it.
	rep := Profile(hotSample(), Thresholds{MaxKeyShare: 0.7, MaxPartitionRatio: 6})
	require.False(t, rep.Skewed)
	// A partition-only skew (many small keys hashed together) is skewed and
	// names its top key.
	var s []Sample
	for i := range 900 {
		s = append(s, Sample{Key: fmt.Sprintf("k-%03d", i), Partition: 0})
	}
	for i := range 100 {
		s = append(s, Sample{Key: fmt.Sprintf("x-%03d", i), Partition: 1 + int32(i%3)})
	}
	rep = Profile(s, Thresholds{})
	require.True(t, rep.Skewed)
	require.InDelta(t, 3.6, rep.Ratio, 1e-9)
	require.Equal(t, []string{"k-000"}, rep.Hot())
}

func TestProfileCountsEmptyPartitions(t *testing.T) {
	s := []Sample{{"a", 0}, {"b", 1}, {"c", 0}, {"d", 1}, {"x", -1}}
	require.InDelta(t, 1.0, Profile(s, Thresholds{MaxKeyShare: 1}).Ratio, 1e-9)
	rep := Profile(s, Thresholds{MaxKeyShare: 1, Partitions: 8})
	require.Equal(t, 4, rep.Samples, "a negative partition is not a sample")
	require.Equal(t, []int{2, 2, 0, 0, 0, 0, 0, 0}, rep.PerPartition)
	require.InDelta(t, 4.0, rep.Ratio, 1e-9)
	require.True(t, rep.Skewed)
}

// TestTopicSampleRatioIsExactFromPartitionSizes: a topic's sample judges its
// largest partition on the sizes its offsets gave, not on the sample's
// rounded counts.
func TestTopicSampleRatioIsExactFromPartitionSizes(t *testing.T) {
	// One sample per partition (the sample alone looks even), sizes
	// 700/100/100/100: partition 0 holds 2.8x the mean.
	ts := TopicSample{Topic: "t", Partitions: 4, Records: 1000, PerPartition: []int64{700, 100, 100, 100},
		Samples: []Sample{{"a", 0}, {"b", 1}, {"c", 2}, {"d", 3}}}
	th := Thresholds{MaxKeyShare: 1}
	require.InDelta(t, 1.0, Profile(ts.Samples, th).Ratio, 1e-9, "the sample alone")
	rep := ts.Profile(th)
	require.Equal(t, []int64{700, 100, 100, 100}, rep.Sizes)
	require.Equal(t, []int{1, 1, 1, 1}, rep.PerPartition)
	require.Equal(t, int32(0), rep.Largest)
	require.InDelta(t, 2.8, rep.Ratio, 1e-9)
	require.True(t, rep.Skewed)
	require.Contains(t, rep.String(), "per partition [1 1 1 1] sampled of [700 100 100 100] records")
	require.EqualError(t, rep.Err(), `key "a" holds 25% of the sample; partition 0 holds 2.8x the mean: salt the key or raise the threshold`)

	// The largest by size wins over the largest by sample count.
	ts.PerPartition = []int64{100, 100, 100, 700}
	ts.Samples = append(ts.Samples, Sample{"e", 0})
	rep = ts.Profile(th)
	require.Equal(t, int32(3), rep.Largest)
	require.InDelta(t, 2.8, rep.Ratio, 1e-9)
	require.Nil(t, Profile(ts.Samples, th).Sizes, "a bare sample has no sizes")
}

func TestProfileOfNothingIsAnError(t *testing.T) {
	rep := Profile(nil, Thresholds{})
	require.False(t, rep.Skewed)
	require.ErrorIs(t, rep.Err(), ErrNoSample)
	require.False(t, errors.Is(rep.Err(), ErrSkewed))
}

func TestProfileSeqMatchesProfile(t *testing.T) {
	s := hotSample()
	seq := func(yield func(Sample) bool) {
		for _, x := range s {
			if !yield(x) {
				return
			}
		}
	}
	require.Equal(t, Profile(s, Thresholds{}), ProfileSeq(seq, Thresholds{}))
}

func TestSaltSpreadsAHotKeyOverPartitions(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	part := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	var raw, salted []Sample
	for range 10000 {
		raw = append(raw, Sample{Key: "tenant-42", Partition: int32(part.Partition(&kgo.Record{Key: []byte("tenant-42")}, 4))})
		k := Salt("tenant-42", 16, rnd)
		require.Equal(t, "tenant-42", Unsalt(k))
		salted = append(salted, Sample{Key: k, Partition: int32(part.Partition(&kgo.Record{Key: []byte(k)}, 4))})
	}
	require.InDelta(t, 4.0, Profile(raw, Thresholds{Partitions: 4}).Ratio, 1e-9, "one key, one partition")
	rep := Profile(salted, Thresholds{Partitions: 4})
	require.False(t, rep.Skewed, rep.String())
	require.Equal(t, 16, rep.Keys)

	require.Equal(t, "k", Salt("k", 1, rnd))
	require.Equal(t, "a#b", Unsalt("a#b"), "not a salt")
	require.Equal(t, "plain", Unsalt("plain"))
}

// cluster is a kfake cluster with topics raw and the given others, and a
// plain client holding 2000 records in raw: 60% "tenant-42", the rest over
// 200 keys, produced in ID order (the value is the ID).
func cluster(t *testing.T, topics ...string) *kgo.Client {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, append(topics, "raw")...))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.MetadataMinAge(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	rnd := rand.New(rand.NewSource(7))
	var rs []*kgo.Record
	for i := range 2000 {
		k := fmt.Sprintf("k-%03d", rnd.Intn(200))
		if rnd.Float64() < 0.6 {
			k = "tenant-42"
		}
		rs = append(rs, &kgo.Record{Topic: "raw", Key: []byte(k), Value: []byte(strconv.Itoa(i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, rs...).FirstErr())
	return cl
}

// checkCopy reads dst whole and checks it holds every record of raw once,
// each key's records in order within their partition.
func checkCopy(t *testing.T, cl *kgo.Client, dst string) TopicSample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts, err := SampleTopic(ctx, cl, dst, 1<<30)
	require.NoError(t, err)
	require.Len(t, ts.Samples, 2000)
	return ts
}

func TestSampleTopicAndRekeySpreadTheHotKey(t *testing.T) {
	cl := cluster(t, "work")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ts, err := SampleTopic(ctx, cl, "raw", 400)
	require.NoError(t, err)
	require.Equal(t, int64(2000), ts.Records)
	require.Equal(t, 4, ts.Partitions)
	require.InDelta(t, 400, len(ts.Samples), 4, "proportional, rounded up per partition")
	rep := ts.Profile(Thresholds{})
	require.True(t, rep.Skewed, rep.String())
	require.Equal(t, "tenant-42", rep.Top[0].Key)
	require.Equal(t, ts.PerPartition, rep.Sizes, "the sizes from the offsets")
	var sum, top int64
	for _, n := range ts.PerPartition {
		sum, top = sum+n, max(top, n)
	}
	require.Equal(t, int64(2000), sum)
	require.Equal(t, ts.PerPartition[rep.Largest], top)
	require.InDelta(t, float64(top)/500, rep.Ratio, 1e-9, "exact: the largest partition's records over the mean of 500")
	require.ErrorContains(t, rep.Err(), `key "tenant-42" holds`)

	n, err := Rekey(ctx, cl, "raw", "work", PlanFor(rep, 16), rand.New(rand.NewSource(1)))
	require.NoError(t, err)
	require.Equal(t, 2000, n)
	work := checkCopy(t, cl, "work").Profile(Thresholds{})
	require.False(t, work.Skewed, work.String())
	requireOrdered(t, cl, "work")
}

// TestBuggyRekeyCopiesEverythingButKeepsTheHotPartition is the buggy
// shuffle's happy path: nothing is lost, yet the hot key still has one
// partition to itself.
func TestBuggyRekeyCopiesEverythingButKeepsTheHotPartition(t *testing.T) {
	cl := cluster(t, "work")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts, err := SampleTopic(ctx, cl, "raw", 400)
	require.NoError(t, err)
	n, err := BuggyRekey(ctx, cl, "raw", "work", PlanFor(ts.Profile(Thresholds{}), 16), rand.New(rand.NewSource(1)))
	require.NoError(t, err)
	require.Equal(t, 2000, n)
	work := checkCopy(t, cl, "work").Profile(Thresholds{})
	require.True(t, work.Skewed, work.String())
	require.Equal(t, "tenant-42", work.Top[0].Key)
	requireOrdered(t, cl, "work")
}

// requireOrdered reads topic and requires every key's values (IDs) to grow
// within each partition, original keys recovered from SaltHeader.
func requireOrdered(t *testing.T, cl *kgo.Client, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	starts, ends, err := offsets(ctx, cl, topic)
	require.NoError(t, err)
	from := map[int32]int64{}
	for p := range ends {
		if ends[p] > starts[p] {
			from[int32(p)] = starts[p]
		}
	}
	last := map[string]int{}
	require.NoError(t, readRange(ctx, cl, topic, from, ends, func(r *kgo.Record) {
		k := string(r.Key)
		for _, h := range r.Headers {
			if h.Key == SaltHeader {
				k = string(h.Value)
			}
		}
		id, _ := strconv.Atoi(string(r.Value))
		pk := fmt.Sprintf("%d/%s", r.Partition, k)
		if prev, ok := last[pk]; ok {
			require.Greater(t, id, prev, "key %s out of order in partition %d", k, r.Partition)
		}
		last[pk] = id
	}))
}

func TestSampleTopicRefusesGroupClientsAndBadSizes(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "raw", "none"))
	require.NoError(t, err)
	defer c.Close()
	g, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("raw"))
	require.NoError(t, err)
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, g.ProduceSync(ctx, &kgo.Record{Topic: "raw", Key: []byte("k")}).FirstErr())
	_, err = SampleTopic(ctx, g, "raw", 10)
	require.ErrorContains(t, err, `consumes as group "g"`)
	_, err = SampleTopic(ctx, g, "raw", 0)
	require.ErrorContains(t, err, "sample size must be positive")

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	one, err := SampleTopic(ctx, cl, "raw", 10)
	require.NoError(t, err)
	require.Len(t, one.Samples, 1)
	none, err := SampleTopic(ctx, cl, "none", 10)
	require.NoError(t, err)
	_, err = SampleTopic(ctx, cl, "missing", 10)
	require.ErrorContains(t, err, `topic "missing" does not exist`)
	require.ErrorIs(t, err, kerr.UnknownTopicOrPartition)
	require.Zero(t, none.Records)
	require.ErrorIs(t, none.Profile(Thresholds{}).Err(), ErrNoSample, "an empty topic is never judged fine")
}
