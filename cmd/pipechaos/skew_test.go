package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicWith starts a kfake cluster with a 4-partition topic holding the
// records keyOf(i) for i < n, hash-partitioned by key.
func topicWith(t *testing.T, n int, keyOf func(i int) string) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "events"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(keyOf(i)), Value: []byte("v")}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(c.ListenAddrs(), ",")
}

func TestSkewProfile(t *testing.T) {
	t.Run("hot key", func(t *testing.T) {
		brokers := topicWith(t, 4000, func(i int) string {
			if i%10 < 7 {
				return "tenant-42"
			}
			return fmt.Sprintf("tenant-%d", i%97)
		})
		code, out, errOut := pipechaos(t, "skew", "profile", "--brokers", brokers, "--topic", "events", "--sample", "1000")
		if code != exitFail {
			t.Errorf("exit %d, want %d: a topic with one key at 70%% is skewed\n%s", code, exitFail, out)
		}
		for _, want := range []string{
			"4 partitions, 4000 records; sampled 1001", // each partition's share rounded up
			"      2     3160  79.0%      790",         // exact size from the offsets, and what was sampled of it
			"1. tenant-42                         703   70.2%",
			"largest-partition ratio: 3.16 (partition 2 holds 79.0% of the records; the mean share is 25.0%)",
			`verdict: SKEWED (hot key "tenant-42"): key "tenant-42" holds 70% of the sample; partition 2 holds 3.2x the mean`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout does not say %q:\n%s", want, out)
			}
		}
		if !strings.Contains(errorLine(t, errOut), `hot key "tenant-42"`) {
			t.Errorf("the error does not name the hot key: %q", errOut)
		}
		// The key share alone makes it skewed, whatever the ratio threshold.
		code, out, _ = pipechaos(t, "skew", "profile", "--brokers", brokers, "--topic", "events", "--sample", "1000", "--threshold", "4")
		if code != exitFail || !strings.Contains(out, `verdict: SKEWED (hot key "tenant-42")`) {
			t.Errorf("exit %d with --threshold 4: a key holding 70%% of the sample is over --max-key-share 0.25\n%s", code, out)
		}
		code, out, _ = pipechaos(t, "skew", "profile", "--brokers", brokers, "--topic", "events", "--sample", "1000", "--threshold", "4", "--max-key-share", "0.8")
		if code != exitOK || !strings.Contains(out, "verdict: not skewed (top key 70.2% <= 80.0%, ratio 3.16 <= 4.00)") {
			t.Errorf("exit %d with both thresholds above the profile:\n%s", code, out)
		}
	})
	t.Run("even", func(t *testing.T) {
		brokers := topicWith(t, 4000, func(i int) string { return fmt.Sprintf("device-%d", i) })
		code, out, _ := pipechaos(t, "skew", "profile", "--brokers", brokers, "--topic", "events", "--sample", "500", "--threshold", "1.5")
		// 502, not 500: harness/skew rounds each partition's share of the
		// sample up (123+124+129+126), so every partition with records is
		// sampled.
		if code != exitOK || !strings.Contains(out, "verdict: not skewed") || !strings.Contains(out, "sampled 502\n") {
			t.Errorf("exit %d, want 0 for uniform keys:\n%s", code, out)
		}
	})
	t.Run("missing topic", func(t *testing.T) {
		brokers := topicWith(t, 1, func(int) string { return "k" })
		code, _, errOut := pipechaos(t, "skew", "profile", "--brokers", brokers, "--topic", "nope")
		if code != exitFail || !strings.Contains(errorLine(t, errOut), "topic nope does not exist") {
			t.Errorf("exit %d, stderr %q: want one line saying the topic does not exist", code, errOut)
		}
	})
}
