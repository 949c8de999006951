package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness/skew"
)

type skewOpts struct {
	brokers  string
	topic    string
	sample   int
	ratio    float64
	keyShare float64
	top      int
	timeout  time.Duration
}

var skewProfileCmd = &command{
	name:  "skew profile",
	args:  "--brokers host:port[,…] --topic T [--sample N] [--threshold r] [--max-key-share s] [--top k]",
	short: "before a batch job: is one key or one partition dominating the topic",
	long: `Profiles a topic for skew before processing it (incident 6: one hot key
turned a 30-minute job into 2 hours). It reads every partition's size from
its offsets and samples about N records, each partition's latest in
proportion to its size (at least one from every partition that has records),
then prints the top keys of the sample and the largest-partition ratio: the
biggest partition's record count divided by the mean per partition, exact
from the offsets (1.0 is perfectly even; with P partitions the maximum is P).

Verdict (package harness/skew, the same check the hot-key-skew scenario
runs): skewed when the most frequent key holds more than --max-key-share of
the sample, or the ratio exceeds --threshold. Then the hot key is named:
salt it across sub-keys, aggregate in two steps, or fail fast.

Exit status: 0 not skewed, 1 skewed (or the topic could not be read),
2 usage mistake.`,
	flags: func(fs *flag.FlagSet) any {
		o := &skewOpts{}
		fs.StringVar(&o.brokers, "brokers", "", "seed brokers, host:port, comma-separated (required)")
		fs.StringVar(&o.topic, "topic", "", "topic to profile (required)")
		fs.IntVar(&o.sample, "sample", 10000, "records to sample (about: each partition's share is rounded up)")
		fs.Float64Var(&o.ratio, "threshold", 2.0, "largest-partition ratio above which the topic is skewed")
		fs.Float64Var(&o.keyShare, "max-key-share", 0.25, "share of the sample one key may hold, in (0,1], above which the topic is skewed")
		fs.IntVar(&o.top, "top", 5, "how many top keys to print")
		fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up after this long")
		return o
	},
	run: skewProfileRun,
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
	case o.ratio < 1:
		return c.usageErr(cmd, "--threshold must be at least 1 (an even topic has ratio 1), got %g", o.ratio)
	case o.keyShare <= 0 || o.keyShare > 1:
		return c.usageErr(cmd, "--max-key-share must be in (0,1], got %g", o.keyShare)
	case o.top < 1:
		return c.usageErr(cmd, "--top must be at least 1, got %d", o.top)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	brokers := strings.Split(o.brokers, ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		return c.usageErr(cmd, "--brokers %q: %v", o.brokers, err)
	}
	defer cl.Close()
	c.progress("sampling about %d records of %s (each partition's latest, in proportion to its size)", o.sample, o.topic)
	ts, err := skew.SampleTopic(ctx, cl, o.topic, o.sample)
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return c.fail(cmd, "topic %s does not exist on %s", o.topic, o.brokers)
	case errors.Is(err, context.DeadlineExceeded):
		return c.fail(cmd, "no answer from %s within %s: are the brokers reachable? (%v)", o.brokers, o.timeout, err)
	case err != nil:
		return c.fail(cmd, "%v", err)
	}
	rep := ts.Profile(skew.Thresholds{MaxKeyShare: o.keyShare, MaxPartitionRatio: o.ratio, Top: o.top})
	if errors.Is(rep.Err(), skew.ErrNoSample) {
		return c.fail(cmd, "topic %s is empty: nothing to profile", o.topic)
	}
	printProfile(c, ts, rep)
	if !rep.Skewed {
		c.printf("verdict: not skewed (top key %.1f%% <= %.1f%%, ratio %.2f <= %.2f)\n",
			100*rep.Top[0].Share, 100*o.keyShare, rep.Ratio, o.ratio)
		return exitOK
	}
	hot := rep.Hot()[0]
	c.printf("verdict: SKEWED (hot key %q): %v\n", displayKey(hot), rep.Err())
	fmt.Fprintf(c.stderr, "pipechaos skew profile: topic %s is skewed (hot key %q): %v, or aggregate in two steps\n",
		o.topic, displayKey(hot), rep.Err())
	return exitFail
}

// printProfile prints the partitions (exact sizes and what was sampled of
// each), the top keys and the largest-partition ratio.
func printProfile(c *cli, ts skew.TopicSample, rep skew.Report) {
	c.printf("topic %s: %d partitions, %d records; sampled %d\n\n", ts.Topic, ts.Partitions, ts.Records, rep.Samples)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "partition\trecords\tshare\tsampled\t")
	for p, n := range rep.Sizes {
		fmt.Fprintf(tw, "%d\t%d\t%.1f%%\t%d\t\n", p, n, 100*float64(n)/float64(ts.Records), rep.PerPartition[p])
	}
	tw.Flush()
	c.printf("\ntop keys in the sample (%d distinct):\n", rep.Keys)
	for i, k := range rep.Top {
		c.printf("  %d. %-30s %6d  %5.1f%%\n", i+1, displayKey(k.Key), k.Count, 100*k.Share)
	}
	c.printf("\nlargest-partition ratio: %.2f (partition %d holds %.1f%% of the records; the mean share is %.1f%%)\n",
		rep.Ratio, rep.Largest, 100*float64(rep.Sizes[rep.Largest])/float64(ts.Records), 100/float64(ts.Partitions))
}

// displayKey shows a null or empty key (skew.Sample keeps both as "").
func displayKey(k string) string {
	if k == "" {
		return "<null>"
	}
	return k
}
