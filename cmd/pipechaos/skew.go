package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type skewOpts struct {
	brokers   string
	topic     string
	sample    int
	threshold float64
	top       int
	timeout   time.Duration
}

var skewProfileCmd = &command{
	name:  "skew profile",
	args:  "--brokers host:port[,…] --topic T [--sample N] [--threshold r] [--top k]",
	short: "before a batch job: is one key or one partition dominating the topic",
	long: `Profiles a topic for skew before processing it (incident 6: one hot key
turned a 30-minute job into 2 hours). It reads every partition's size from
its offsets and consumes a sample of N records spread over the partitions in
proportion to their size, then prints the top keys and the largest-partition
ratio: the biggest partition's share of the records divided by the mean
share (1.0 is perfectly even; with P partitions the maximum is P).

Verdict: skewed when the ratio exceeds --threshold. Then the hot key (the
most frequent key of the biggest partition) is named: salt it across
sub-keys, aggregate in two steps, or fail fast.

Exit status: 0 not skewed, 1 skewed (or the topic could not be read),
2 usage mistake.`,
	flags: func(fs *flag.FlagSet) any {
		o := &skewOpts{}
		fs.StringVar(&o.brokers, "brokers", "", "seed brokers, host:port, comma-separated (required)")
		fs.StringVar(&o.topic, "topic", "", "topic to profile (required)")
		fs.IntVar(&o.sample, "sample", 10000, "records to sample")
		fs.Float64Var(&o.threshold, "threshold", 2.0, "largest-partition ratio above which the topic is skewed")
		fs.IntVar(&o.top, "top", 5, "how many top keys to print")
		fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up after this long")
		return o
	},
	run: skewProfileRun,
}

// skewProfile is what the sample showed.
type skewProfile struct {
	sizes      map[int32]int64 // records per partition, from offsets
	total      int64
	sampled    int
	keys       map[string]int           // sampled records per key
	keysByPart map[int32]map[string]int // sampled records per key, per partition
	ratio      float64
	biggest    int32
}

func skewProfileRun(ctx context.Context, c *cli, cmd *command, opts any, args []string) int {
	o := opts.(*skewOpts)
	if len(args) > 0 {
		return c.usageErr(cmd, "takes no arguments, got %q", strings.Join(args, " "))
	}
	switch {
	case o.brokers == "":
		return c.usageErr(cmd, "--brokers is required")
	case o.topic == "":
		return c.usageErr(cmd, "--topic is required")
	case o.sample < 1:
		return c.usageErr(cmd, "--sample must be at least 1, got %d", o.sample)
	case o.threshold < 1:
		return c.usageErr(cmd, "--threshold must be at least 1 (an even topic has ratio 1), got %g", o.threshold)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	p, err := profileSkew(ctx, c, strings.Split(o.brokers, ","), o.topic, o.sample)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return c.fail(cmd, "no answer from %s within %s: are the brokers reachable? (%v)", o.brokers, o.timeout, err)
		}
		return c.fail(cmd, "%v", err)
	}
	parts := make([]int32, 0, len(p.sizes))
	for part := range p.sizes {
		parts = append(parts, part)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	c.printf("topic %s: %d partitions, %d records; sampled %d\n\n", o.topic, len(parts), p.total, p.sampled)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "partition\trecords\tshare\t")
	for _, part := range parts {
		fmt.Fprintf(tw, "%d\t%d\t%.1f%%\t\n", part, p.sizes[part], 100*float64(p.sizes[part])/float64(p.total))
	}
	tw.Flush()
	c.printf("\ntop keys in the sample:\n")
	for i, kc := range topKeys(p.keys, o.top) {
		c.printf("  %d. %-30s %6d  %5.1f%%\n", i+1, kc.key, kc.n, 100*float64(kc.n)/float64(p.sampled))
	}
	mean := 100 / float64(len(parts))
	c.printf("\nlargest-partition ratio: %.2f (partition %d holds %.1f%% of the records; the mean share is %.1f%%)\n",
		p.ratio, p.biggest, 100*float64(p.sizes[p.biggest])/float64(p.total), mean)
	if p.ratio <= o.threshold {
		c.printf("verdict: not skewed (ratio %.2f <= threshold %.2f)\n", p.ratio, o.threshold)
		return exitOK
	}
	hot := topKeys(p.keysByPart[p.biggest], 1)
	hotKey, hotShare := "(no records sampled)", 0.0
	if len(hot) > 0 {
		hotKey = hot[0].key
		hotShare = 100 * float64(p.keys[hotKey]) / float64(p.sampled)
	}
	c.printf("verdict: SKEWED (ratio %.2f > threshold %.2f): hot key %q is %.1f%% of the sample, in partition %d\n",
		p.ratio, o.threshold, hotKey, hotShare, p.biggest)
	fmt.Fprintf(c.stderr, "pipechaos skew profile: topic %s is skewed: hot key %q dominates partition %d (ratio %.2f > %.2f): salt the key across sub-keys or aggregate in two steps before processing\n",
		o.topic, hotKey, p.biggest, p.ratio, o.threshold)
	return exitFail
}

type keyCount struct {
	key string
	n   int
}

func topKeys(m map[string]int, k int) []keyCount {
	out := make([]keyCount, 0, len(m))
	for key, n := range m {
		out = append(out, keyCount{key, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].key < out[j].key
	})
	return out[:min(k, len(out))]
}

func profileSkew(ctx context.Context, c *cli, brokers []string, topic string, sample int) (*skewProfile, error) {
	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		return nil, fmt.Errorf("brokers %v: %w", brokers, err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	c.progress("reading the partition offsets of %s", topic)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	p := &skewProfile{sizes: map[int32]int64{}, keys: map[string]int{}, keysByPart: map[int32]map[string]int{}}
	startAt := map[int32]int64{}
	var listErr error
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Err != nil {
			if errors.Is(lo.Err, kerr.UnknownTopicOrPartition) {
				listErr = fmt.Errorf("topic %s does not exist on %s", topic, strings.Join(brokers, ","))
			} else if listErr == nil {
				listErr = fmt.Errorf("partition %d of %s: %w", lo.Partition, topic, lo.Err)
			}
			return
		}
		s, ok := starts.Lookup(topic, lo.Partition)
		if !ok || s.Err != nil {
			listErr = fmt.Errorf("partition %d of %s: no start offset", lo.Partition, topic)
			return
		}
		p.sizes[lo.Partition] = lo.Offset - s.Offset
		startAt[lo.Partition] = s.Offset
		p.total += lo.Offset - s.Offset
	})
	if listErr != nil {
		return nil, listErr
	}
	if len(p.sizes) == 0 {
		return nil, fmt.Errorf("topic %s does not exist on %s", topic, strings.Join(brokers, ","))
	}
	if p.total == 0 {
		return nil, fmt.Errorf("topic %s is empty: nothing to profile", topic)
	}
	mean := float64(p.total) / float64(len(p.sizes))
	for part, n := range p.sizes {
		if r := float64(n) / mean; r > p.ratio || (r == p.ratio && part < p.biggest) {
			p.ratio, p.biggest = r, part
		}
	}

	// Sample each partition in proportion to its size (largest remainder,
	// so the quotas add up to the sample exactly).
	quota := sampleQuotas(p.sizes, p.total, min(int64(sample), p.total))
	offsets := map[int32]kgo.Offset{}
	var want int64
	for part, q := range quota {
		offsets[part] = kgo.NewOffset().At(startAt[part])
		want += q
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		return nil, fmt.Errorf("brokers %v: %w", brokers, err)
	}
	defer cl.Close()
	c.progress("sampling %d records from %d partitions", want, len(quota))
	got := map[int32]int64{}
	next := want / 4
	for int64(p.sampled) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("sampled %d of %d records: %w", p.sampled, want, err)
		}
		var fetchErr error
		fs.EachError(func(t string, part int32, err error) {
			if !kerr.IsRetriable(err) {
				fetchErr = fmt.Errorf("fetch %s/%d: %w", t, part, err)
			}
		})
		if fetchErr != nil {
			return nil, fetchErr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if got[r.Partition] >= quota[r.Partition] {
				return
			}
			got[r.Partition]++
			key := "<null>"
			if r.Key != nil {
				key = string(r.Key)
			}
			p.keys[key]++
			if p.keysByPart[r.Partition] == nil {
				p.keysByPart[r.Partition] = map[string]int{}
			}
			p.keysByPart[r.Partition][key]++
			p.sampled++
		})
		if want >= 1000 && int64(p.sampled) >= next && int64(p.sampled) < want {
			c.progress("sampled %d of %d", p.sampled, want)
			next += want / 4
		}
	}
	return p, nil
}

// sampleQuotas splits n records over partitions in proportion to their
// sizes, by largest remainder; partitions with a zero quota are left out.
func sampleQuotas(sizes map[int32]int64, total, n int64) map[int32]int64 {
	type rem struct {
		part int32
		frac int64
	}
	quota := map[int32]int64{}
	var rems []rem
	var given int64
	for part, size := range sizes {
		q := n * size / total
		quota[part] = q
		given += q
		rems = append(rems, rem{part, n * size % total})
	}
	sort.Slice(rems, func(i, j int) bool {
		if rems[i].frac != rems[j].frac {
			return rems[i].frac > rems[j].frac
		}
		return rems[i].part < rems[j].part
	})
	for i := 0; given < n && i < len(rems); i++ {
		if quota[rems[i].part] < sizes[rems[i].part] {
			quota[rems[i].part]++
			given++
		}
	}
	for part, q := range quota {
		if q == 0 {
			delete(quota, part)
		}
	}
	return quota
}
