package kafkaproxy_test

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/fakes/kafkaproxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a kfake cluster with a proxy in front of every broker.
type fixture struct {
	kc *kfake.Cluster
	p  *kafkaproxy.Proxy
}

func newFixture(t testing.TB, brokers int, opts ...kfake.Opt) *fixture {
	t.Helper()
	kc, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(brokers)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(kc.Close)
	up := map[int32]string{}
	for i, a := range kc.ListenAddrs() {
		up[int32(i)] = a
	}
	p, err := kafkaproxy.Start(kafkaproxy.Config{Brokers: up, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return &fixture{kc: kc, p: p}
}

// dialLog records every address a client dials.
type dialLog struct {
	mu    sync.Mutex
	addrs map[string]bool
}

func (d *dialLog) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, _ error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.addrs == nil {
		d.addrs = map[string]bool{}
	}
	d.addrs[net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))] = true
}

func (d *dialLog) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for a := range d.addrs {
		out = append(out, a)
	}
	return out
}

// client is a franz-go client seeded only with the proxy's addresses.
func (f *fixture) client(t testing.TB, opts ...kgo.Opt) (*kgo.Client, *dialLog) {
	t.Helper()
	dl := &dialLog{}
	base := []kgo.Opt{
		kgo.SeedBrokers(f.p.Bootstrap()...),
		kgo.WithHooks(dl),
		kgo.MetadataMinAge(50 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl, dl
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// requireOnlyProxy fails if the client dialed anything but the proxy.
func requireOnlyProxy(t *testing.T, p *kafkaproxy.Proxy, dl *dialLog) {
	t.Helper()
	ours := map[string]bool{}
	for _, a := range p.Addrs() {
		ours[a] = true
	}
	dialed := dl.dialed()
	require.NotEmpty(t, dialed)
	for _, a := range dialed {
		require.True(t, ours[a], "client dialed %s, which is not a proxy listener (%v)", a, p.Addrs())
	}
}
