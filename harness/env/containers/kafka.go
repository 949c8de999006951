package containers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/fakes/kafka"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/protoproxy"
)

const loopback = "127.0.0.1"

// region is one Kafka cluster: one pipechaos-kafka container holding all
// brokers, or (official image) one container per broker.
type region struct {
	e         *environment
	name      string
	official  bool
	bootstrap []string
	nodes     []int32
	procs     procs
	aliases   []string             // Apache Kafka images: one network alias per broker
	ctl       *kafka.ControlClient // pipechaos-kafka only
	// front is the Kafka protocol fault proxy the clients of an Apache
	// Kafka image's region go through (protocol errors, slowed requests);
	// nil for pipechaos-kafka, whose brokers have fault hooks of their own.
	front *protoproxy.Front
}

var (
	_ env.Region          = (*region)(nil)
	_ env.ProtocolFaulter = (*region)(nil)
	_ env.RequestSlower   = (*region)(nil)
	_ ProcessFaults       = (*region)(nil)
)

func (e *environment) startRegion(ctx context.Context, name string) (*region, error) {
	n := e.cfg.BrokersPerRegion
	r := &region{e: e, name: name, official: officialKafka(e.ccfg.KafkaImage)}
	for i := range n {
		r.nodes = append(r.nodes, int32(i))
	}
	if r.official {
		return r, r.startOfficial(ctx, n)
	}
	ports, err := freePorts(n + 1)
	if err != nil {
		return nil, err
	}
	brokerPorts, ctl := ports[:n], ports[n]
	bind := map[int]int{}
	for _, p := range ports {
		bind[p] = p // same number inside and out: the advertised address stays valid
		if p != ctl {
			r.bootstrap = append(r.bootstrap, fmt.Sprintf("%s:%d", loopback, p))
		}
	}
	p, err := e.run(ctx, "kafka-"+name, e.ccfg.KafkaImage, []string{"kafka-" + name}, bind,
		testcontainers.WithCmd(pipechaosKafkaArgs(name, brokerPorts, ctl)...),
		testcontainers.WithWaitStrategy(&httpReady{port: ctl, path: "/healthz", timeout: e.ccfg.StartupTimeout}),
	)
	if err != nil {
		return nil, err
	}
	r.procs = procs{p}
	r.ctl = kafka.NewControlClient(fmt.Sprintf("http://%s:%d", loopback, ctl))
	e.addCloser(func() error { r.ctl.Close(); return nil })
	return r, nil
}

// pipechaosKafkaArgs are the pipechaos-kafka flags of one region.
func pipechaosKafkaArgs(region string, brokerPorts []int, ctl int) []string {
	ps := make([]string, len(brokerPorts))
	for i, p := range brokerPorts {
		ps[i] = strconv.Itoa(p)
	}
	return []string{
		"-ports", strings.Join(ps, ","),
		"-listen-host", "0.0.0.0",
		"-advertised-host", loopback,
		"-control", fmt.Sprintf(":%d", ctl),
		"-data-dir", "/data",
		"-cluster-id", "pipechaos-" + region,
	}
}

func (r *region) Name() string        { return r.name }
func (r *region) Bootstrap() []string { return append([]string(nil), r.bootstrap...) }
func (r *region) Brokers() []int32    { return append([]int32(nil), r.nodes...) }

func (r *region) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append(env.ClientOpts(r.bootstrap), opts...)...)
}

func (r *region) CreateTopic(ctx context.Context, topic string, partitions int32) error {
	cl, err := r.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s in %s: %w", topic, r.name, err)
	}
	return nil
}

// Stop takes the region down. pipechaos-kafka stops gracefully; the
// brokers of an Apache Kafka image are killed, as the nodes backend does:
// a broker's controlled shutdown waits for a controller, which a region
// whose quorum goes down with it no longer has, so `docker stop` would
// hang for its whole timeout and the outage would start only after the
// workload it was meant to meet. The data survives a kill (the page cache
// outlives the process).
func (r *region) Stop(ctx context.Context) error {
	if r.official {
		return r.procs.Kill(ctx)
	}
	return r.procs.each(ctx, (*proc).stop)
}

// Start brings every container back; an official image's region is back
// once its metadata lists every broker and a controller.
func (r *region) Start(ctx context.Context) error {
	if err := r.procs.each(ctx, (*proc).start); err != nil || !r.official {
		return err
	}
	return r.waitBrokers(ctx, r.nodes...)
}

// Kill, Pause, Unpause, Disconnect and Connect act on every container of
// the region (ProcessFaults).
func (r *region) Kill(ctx context.Context) error       { return r.procs.Kill(ctx) }
func (r *region) Pause(ctx context.Context) error      { return r.procs.Pause(ctx) }
func (r *region) Unpause(ctx context.Context) error    { return r.procs.Unpause(ctx) }
func (r *region) Disconnect(ctx context.Context) error { return r.procs.Disconnect(ctx) }
func (r *region) Connect(ctx context.Context) error    { return r.procs.Connect(ctx) }

func (r *region) node(node int32) (*proc, error) {
	if node < 0 || int(node) >= len(r.procs) {
		return nil, fmt.Errorf("region %s has no broker %d", r.name, node)
	}
	return r.procs[node], nil
}

// CrashBroker: pipechaos-kafka removes the node (kfake RemoveNode, its
// listener and connections close); an official image gets kill -9.
func (r *region) CrashBroker(ctx context.Context, node int32) error {
	if r.ctl != nil {
		return r.ctl.CrashBroker(ctx, node)
	}
	p, err := r.node(node)
	if err != nil {
		return err
	}
	return p.kill(ctx)
}

// RestartBroker brings the broker back on the same port; an official
// image's broker is back once the cluster's metadata lists it again.
func (r *region) RestartBroker(ctx context.Context, node int32) error {
	if r.ctl != nil {
		return r.ctl.RestartBroker(ctx, node)
	}
	p, err := r.node(node)
	if err != nil {
		return err
	}
	if err := p.start(ctx); err != nil {
		return err
	}
	return r.waitBrokers(ctx, node)
}

// Isolate: pipechaos-kafka gates the broker's listener; an official
// image's container is disconnected from the network.
func (r *region) Isolate(ctx context.Context, node int32) error {
	if r.ctl != nil {
		return r.ctl.Isolate(ctx, node)
	}
	p, err := r.node(node)
	if err != nil {
		return err
	}
	if err := p.disconnect(ctx); err != nil {
		return err
	}
	// Connections already open through Docker's port proxy would hang
	// rather than fail; a client cut off from a broker sees them close.
	r.front.CloseConns(node)
	return nil
}

// Reconnect undoes Isolate.
func (r *region) Reconnect(ctx context.Context, node int32) error {
	if r.ctl != nil {
		return r.ctl.Reconnect(ctx, node)
	}
	p, err := r.node(node)
	if err != nil {
		return err
	}
	return p.connect(ctx)
}

// BrokerPauser is a Region that can freeze one broker: requests to it are
// held unanswered, connections stay open (pipechaos-kafka: kfake
// SleepControl on every request to that node; official image: docker
// pause of its container).
type BrokerPauser interface {
	PauseBroker(ctx context.Context, node int32) error
	UnpauseBroker(ctx context.Context, node int32) error
}

var (
	_ BrokerPauser     = (*region)(nil)
	_ env.BrokerPauser = (*region)(nil)
)

// PauseBroker freezes one broker.
func (r *region) PauseBroker(ctx context.Context, node int32) error {
	if r.ctl != nil {
		return r.ctl.PauseBroker(ctx, node)
	}
	p, err := r.node(node)
	if err != nil {
		return err
	}
	return p.pause(ctx)
}

// ResumeBroker thaws it (env.BrokerPauser).
func (r *region) ResumeBroker(ctx context.Context, node int32) error {
	return r.UnpauseBroker(ctx, node)
}

// UnpauseBroker thaws it.
func (r *region) UnpauseBroker(ctx context.Context, node int32) error {
	if r.ctl != nil {
		return r.ctl.UnpauseBroker(ctx, node)
	}
	p, err := r.node(node)
	if err != nil {
		return err
	}
	return p.unpause(ctx)
}

// InjectError installs a kfake Fault through the control API
// (pipechaos-kafka) or a rule on the region's protocol proxy (Apache
// Kafka images).
func (r *region) InjectError(f env.ProtocolFault) (func(), error) {
	if r.ctl == nil {
		return r.front.InjectError(f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := r.ctl.InjectFault(ctx, kafka.Fault{Key: f.Key, Topic: f.Topic, ErrCode: f.ErrCode, Count: f.Count})
	if err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.ctl.RemoveFault(ctx, id); err != nil {
			r.e.cfg.Logf("containers: heal protocol fault in %s: %v", r.name, err)
		}
	}, nil
}

// SlowRequests delays one request key (pipechaos-kafka: kfake ControlKey
// + SleepControl; Apache Kafka images: the protocol proxy holds them).
func (r *region) SlowRequests(key int16, d time.Duration) (func(), error) {
	if r.ctl == nil {
		return r.front.SlowRequests(key, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := r.ctl.SlowRequests(ctx, kafka.Slow{Key: key, DelayMs: max(d.Milliseconds(), 1)})
	if err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.ctl.RemoveSlow(ctx, id); err != nil {
			r.e.cfg.Logf("containers: heal slow requests in %s: %v", r.name, err)
		}
	}, nil
}
