package skew

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// ErrSkewed is wrapped by the error of a profile whose verdict is skewed.
var ErrSkewed = errors.New("skewed input")

// ErrNoSample is wrapped by the error of a profile of an empty sample: with
// nothing to judge, the verdict is never "fine".
var ErrNoSample = errors.New("empty sample")

// Sample is one record of the input, as far as skew is concerned.
type Sample struct {
	Key       string
	Partition int32
}

// Thresholds say when a sample is skewed. Zero values take the defaults.
type Thresholds struct {
	// MaxKeyShare is the largest share of the sample one key may hold, in
	// (0,1]. Default 0.25.
	MaxKeyShare float64
	// MaxPartitionRatio is the largest allowed ratio of the largest
	// partition's sample count to the mean per partition. Default 2.
	MaxPartitionRatio float64
	// Partitions is the number of partitions of the input, empty ones
	// included. Default: the highest partition in the sample, plus one.
	Partitions int
	// Top is how many keys Report.Top lists. Default 5.
	Top int
}

const (
	defaultMaxKeyShare       = 0.25
	defaultMaxPartitionRatio = 2
	defaultTop               = 5
)

func (t Thresholds) withDefaults() Thresholds {
	if t.MaxKeyShare <= 0 {
		t.MaxKeyShare = defaultMaxKeyShare
	}
	if t.MaxPartitionRatio <= 0 {
		t.MaxPartitionRatio = defaultMaxPartitionRatio
	}
	if t.Top <= 0 {
		t.Top = defaultTop
	}
	return t
}

// KeyCount is one key's frequency in a sample.
type KeyCount struct {
	Key   string  `json:"key"`
	Count int     `json:"count"`
	Share float64 `json:"share"` // Count over the sample size
}

// Report is what a profile found.
type Report struct {
	Samples int `json:"samples"`
	// Keys is the number of distinct keys in the sample.
	Keys int `json:"keys"`
	// Top lists the most frequent keys, most frequent first (ties by key).
	Top []KeyCount `json:"top"`
	// PerPartition is the sample count of each partition, by partition.
	PerPartition []int `json:"per_partition"`
	// Sizes is how many records each partition held, by partition, when
	// the sample comes from a topic whose offsets were read
	// (TopicSample.Profile); nil for a bare sample.
	Sizes []int64 `json:"sizes,omitempty"`
	// Largest is the largest partition (the lowest on a tie): by Sizes
	// when known, else by the sample count.
	Largest int32 `json:"largest"`
	// Ratio is the largest partition's count over the mean per partition:
	// 1 for an even spread, the number of partitions when one partition
	// holds everything. It is exact when Sizes are known (the sizes read
	// from the offsets), else estimated from the sample (PerPartition).
	Ratio float64 `json:"ratio"`
	// Thresholds are the ones judged against, defaults applied.
	Thresholds Thresholds `json:"thresholds"`
	// Skewed is the verdict: the top key's share or the ratio is above its
	// threshold.
	Skewed bool `json:"skewed"`
}

// Profile profiles a sample.
func Profile(samples []Sample, th Thresholds) Report {
	return ProfileSeq(slices.Values(samples), th)
}

// ProfileSeq profiles a sample read from an iterator (records streamed from
// a file or a topic), holding one counter per distinct key.
func ProfileSeq(samples iter.Seq[Sample], th Thresholds) Report {
	return profile(samples, th, nil)
}

// profile profiles a sample; sizes, if not nil, are the records each
// partition held, from which the largest-partition ratio is exact.
func profile(samples iter.Seq[Sample], th Thresholds, sizes []int64) Report {
	th = th.withDefaults()
	rep := Report{Thresholds: th}
	keys := map[string]int{}
	var parts []int
	for s := range samples {
		if s.Partition < 0 {
			continue // not a partition: not part of the sample
		}
		rep.Samples++
		keys[s.Key]++
		if int(s.Partition) >= len(parts) {
			parts = append(parts, make([]int, int(s.Partition)+1-len(parts))...)
		}
		parts[s.Partition]++
	}
	if n := max(th.Partitions, len(sizes)); n > len(parts) {
		parts = append(parts, make([]int, n-len(parts))...)
	}
	rep.PerPartition, rep.Keys = parts, len(keys)
	if sizes != nil {
		rep.Sizes = make([]int64, len(parts))
		copy(rep.Sizes, sizes)
	}
	if rep.Samples == 0 {
		return rep
	}

	top := make([]KeyCount, 0, len(keys))
	for k, n := range keys {
		top = append(top, KeyCount{Key: k, Count: n, Share: float64(n) / float64(rep.Samples)})
	}
	slices.SortFunc(top, func(a, b KeyCount) int { return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Key, b.Key)) })
	rep.Top = top[:min(th.Top, len(top))]

	counts := make([]int64, len(parts))
	for p, n := range parts {
		counts[p] = int64(n)
	}
	if total(rep.Sizes) > 0 {
		counts = rep.Sizes
	}
	rep.Largest, rep.Ratio = largest(counts)
	rep.Skewed = rep.Top[0].Share > th.MaxKeyShare || rep.Ratio > th.MaxPartitionRatio
	return rep
}

// largest returns the partition with the highest count (the lowest on a
// tie) and its count over the mean per partition.
func largest(counts []int64) (int32, float64) {
	var p int32
	for i, n := range counts {
		if n > counts[p] {
			p = int32(i)
		}
	}
	mean := float64(total(counts)) / float64(len(counts))
	return p, float64(counts[p]) / mean
}

func total(counts []int64) int64 {
	var sum int64
	for _, n := range counts {
		sum += n
	}
	return sum
}

// Hot lists the keys whose share is above MaxKeyShare, most frequent first.
// A sample skewed only by its partitions (many keys hashed together) names
// its top key, the one salting helps most.
func (r Report) Hot() []string {
	var hot []string
	for _, k := range r.Top {
		if k.Share > r.Thresholds.MaxKeyShare {
			hot = append(hot, k.Key)
		}
	}
	if len(hot) == 0 && r.Skewed {
		hot = append(hot, r.Top[0].Key)
	}
	return hot
}

// Err is the fail-fast error: nil when the sample is not skewed, else an
// error wrapping ErrSkewed that names the hot key and the largest partition.
// An empty sample is an error wrapping ErrNoSample.
func (r Report) Err() error {
	switch {
	case r.Samples == 0:
		return fmt.Errorf("%w: no records to profile: sample a topic that has records", ErrNoSample)
	case !r.Skewed:
		return nil
	}
	return &SkewError{Report: r}
}

// SkewError is the error of a skewed profile.
type SkewError struct{ Report Report }

func (e *SkewError) Error() string {
	r := e.Report
	return fmt.Sprintf("key %q holds %.0f%% of the sample; partition %d holds %.1fx the mean: salt the key or raise the threshold",
		r.Top[0].Key, r.Top[0].Share*100, r.Largest, r.Ratio)
}

// Unwrap makes errors.Is(err, ErrSkewed) hold.
func (e *SkewError) Unwrap() error { return ErrSkewed }

// String is the report in one line.
func (r Report) String() string {
	if r.Samples == 0 {
		return "0 samples"
	}
	var top []string
	for _, k := range r.Top {
		top = append(top, fmt.Sprintf("%q %.1f%%", k.Key, k.Share*100))
	}
	verdict := "even"
	if r.Skewed {
		verdict = "SKEWED"
	}
	parts := fmt.Sprintf("per partition %v", r.PerPartition)
	if r.Sizes != nil {
		parts = fmt.Sprintf("per partition %v sampled of %v records", r.PerPartition, r.Sizes)
	}
	return fmt.Sprintf("%d samples, %d keys, top %s; %s, largest %d at %.2fx the mean (thresholds: key share %.0f%%, ratio %.1fx): %s",
		r.Samples, r.Keys, strings.Join(top, ", "), parts, r.Largest, r.Ratio,
		r.Thresholds.MaxKeyShare*100, r.Thresholds.MaxPartitionRatio, verdict)
}
