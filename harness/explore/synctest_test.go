package explore

// Can testing/synctest run the pipeline in a bubble, where time is fake and
// advances only when every goroutine of the bubble is durably blocked, so
// that a schedule's "40 ms after the PUT returned" becomes exact and every
// replay identical? These tests answer it and fail if the answer changes.

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/embedded"
)

// TestSynctestKfakeOnAVirtualNetwork: kfake's VirtualNetwork (net.Pipe
// connections, which synctest counts as durably blocked) lets a cluster, a
// producer and a committing consumer group run in a bubble. Time is exact:
// 30 s of fake time pass in no real time, and the offsets are what was
// produced, every run.
func TestSynctestKfakeOnAVirtualNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		vn := &kfake.VirtualNetwork{}
		c, err := kfake.NewCluster(kfake.ListenFn(vn.Listen), kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.Dialer(vn.DialContext),
			kgo.DefaultProduceTopic("t"), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"), kgo.DisableAutoCommit())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx := context.Background()
		for i := range 100 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		got := 0
		for got < 100 {
			fs := cl.PollFetches(ctx)
			got += fs.NumRecords()
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Fatal(err)
			}
		}
		realStart, fakeStart := wallClock(), time.Now()
		time.Sleep(30 * time.Second)
		if d := time.Since(fakeStart); d != 30*time.Second {
			t.Errorf("fake time advanced %s, want exactly 30s", d)
		}
		if d := wallClock().Sub(realStart); d > 5*time.Second {
			t.Errorf("30 s of fake time took %s of real time", d)
		}
		offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		offs.Each(func(o kadm.OffsetResponse) { total += o.At })
		if total != 100 {
			t.Errorf("committed %d, want 100", total)
		}
	})
}

// wallClock reads the real clock from inside a bubble: the modification
// time of a file just written is stamped by the kernel.
func wallClock() time.Time {
	f, err := os.CreateTemp("", "pipechaos-clock-*")
	if err != nil {
		return time.Time{}
	}
	defer os.Remove(f.Name())
	defer f.Close()
	_, _ = f.Write([]byte{1})
	fi, err := f.Stat()
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// TestSynctestEmbeddedBackendCannot: the embedded backend in a bubble.
// kfake listens on real TCP ports there (fakes/kafka), and the store and
// the registry are net/http servers on 127.0.0.1 (httpfault.Serve); their
// accept loops and the clients' connections block on real sockets, which
// are never durably blocked, so the bubble's clock never advances: a 10 ms
// sleep after the environment started never returns. The child process
// runs it; the parent kills it after 10 s of real time.
func TestSynctestEmbeddedBackendCannot(t *testing.T) {
	if os.Getenv("PIPECHAOS_SYNCTEST_CHILD") == "1" {
		synctest.Test(t, func(t *testing.T) {
			cfg, err := env.NewConfig(env.Backend(env.Embedded), env.BrokersPerRegion(1))
			if err != nil {
				t.Fatal(err)
			}
			e, err := embedded.Start(cfg)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
			_ = e.Close()
		})
		return
	}
	if testing.Short() {
		t.Skip("-short: the child runs 10 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSynctestEmbeddedBackendCannot$", "-test.v")
	cmd.Env = append(os.Environ(), "PIPECHAOS_SYNCTEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	switch {
	case ctx.Err() != nil:
		t.Logf("as documented: the embedded backend hangs in a bubble (killed after 10 s)")
	case err == nil:
		t.Errorf("the embedded backend ran in a synctest bubble: time can now be exact there; update harness/explore/README.md and use it\n%s", out)
	default:
		t.Logf("the embedded backend fails in a bubble: %v\n%s", err, out)
	}
}
