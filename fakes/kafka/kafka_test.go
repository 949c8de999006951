package kafka_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pipechaos/pipechaos/fakes/kafka"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGatedListenerIsolateClosesAndRefuses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gl := kafka.NewGatedListener(ln, "advertised.example:1234")
	t.Cleanup(func() { gl.Close() })
	require.Equal(t, "advertised.example:1234", gl.Addr().String())

	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := gl.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	live := dial()
	<-accepted
	require.Eventually(t, func() bool { return gl.Conns() == 1 }, 5*time.Second, 10*time.Millisecond)

	gl.Isolate()
	requireClosed(t, live)
	requireClosed(t, dial()) // refused while isolated: accepted and closed

	gl.Reconnect()
	c := dial()
	srv := <-accepted
	_, err = srv.Write([]byte("x"))
	require.NoError(t, err)
	buf := make([]byte, 1)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)

	require.NoError(t, gl.Close())
	requireClosed(t, c)
	_, open := <-accepted
	require.False(t, open, "Accept must fail after Close")
}

func requireClosed(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err := c.Read(make([]byte, 1))
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "connection still open: %v", err)
}

// TestClusterFaultsThroughControlAPI drives every control endpoint of a
// 3-broker cluster and checks a client sees each fault and recovers.
func TestClusterFaultsThroughControlAPI(t *testing.T) {
	c, err := kafka.Start(kafka.Config{Ports: []int{0, 0, 0}, DataDir: t.TempDir(), Opts: []kfake.Opt{kfake.SeedTopics(3, "t")}})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	srv := httptest.NewServer(kafka.Handler(c))
	t.Cleanup(srv.Close)
	ctl := kafka.NewControlClient(srv.URL)
	t.Cleanup(ctl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, ctl.Healthz(ctx))

	addrs := c.Addrs()
	require.Len(t, addrs, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("t"), kgo.RecordRetries(3),
		kgo.RequestTimeoutOverhead(2*time.Second))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	produce := func() error {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		return cl.ProduceSync(pctx, kgo.StringRecord("v")).FirstErr()
	}
	require.NoError(t, produce())

	// Crash and restart every broker in turn: the client keeps producing.
	for _, n := range c.Brokers() {
		require.NoError(t, ctl.CrashBroker(ctx, n))
		require.NoError(t, produce(), "produce with broker %d down", n)
		require.NoError(t, ctl.RestartBroker(ctx, n))
		require.NoError(t, produce(), "produce after broker %d restarted", n)
	}

	// Isolate: a direct connection to the broker is closed.
	require.NoError(t, ctl.Isolate(ctx, 0))
	conn, err := net.Dial("tcp", addrs[0])
	require.NoError(t, err)
	requireClosed(t, conn)
	conn.Close()
	require.NoError(t, ctl.Reconnect(ctx, 0))
	require.NoError(t, produce())

	// Protocol fault: one produce request fails with a non-retriable code.
	id, err := ctl.InjectFault(ctx, kafka.Fault{Key: 0, ErrCode: kerr.InvalidRecord.Code, Count: 1})
	require.NoError(t, err)
	require.ErrorIs(t, produce(), kerr.InvalidRecord)
	require.NoError(t, ctl.RemoveFault(ctx, id))
	require.NoError(t, produce())

	// Slow produce: a produce takes at least the delay; healing wakes it.
	sid, err := ctl.SlowRequests(ctx, kafka.Slow{Key: 0, DelayMs: 300})
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, produce())
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	require.NoError(t, ctl.RemoveSlow(ctx, sid))
	require.NoError(t, produce())

	// Pause: a client that knows only the paused broker gets no answer;
	// unpausing answers it.
	require.NoError(t, ctl.PauseBroker(ctx, 2))
	require.NoError(t, ctl.PauseBroker(ctx, 2), "pausing twice is fine")
	only, err := kgo.NewClient(kgo.SeedBrokers(addrs[2]), kgo.RequestTimeoutOverhead(300*time.Millisecond)) // Ping's handshake ignores ctx
	require.NoError(t, err)
	t.Cleanup(only.Close)
	pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	require.Error(t, only.Ping(pctx))
	pcancel()
	require.NoError(t, ctl.UnpauseBroker(ctx, 2))
	require.NoError(t, only.Ping(ctx))
	require.NoError(t, produce())

	_, err = ctl.InjectFault(ctx, kafka.Fault{Key: 0, ErrCode: 0})
	require.ErrorContains(t, err, "unknown kafka error code")
	require.ErrorContains(t, ctl.CrashBroker(ctx, 9), "no broker 9")
}
