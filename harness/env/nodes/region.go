package nodes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/fakes/kafkaproxy"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/protoproxy"
)

// Region is one KRaft cluster of combined broker+controller nodes.
type Region struct {
	e       *Environment
	name    string
	brokers []*broker
	rf      int
	minISR  int

	// front is what clients reach the brokers through: a Kafka protocol
	// proxy (in the harness's own namespace) over each broker's client
	// listener, rewriting metadata so clients stay on it, and answering or
	// slowing chosen requests (InjectError, SlowRequests). Bootstrap,
	// Client and every harness-side client go through it; nothing else
	// hands out broker addresses.
	front *protoproxy.Front

	mu    sync.Mutex
	heals map[int]func() // faults installed on front, healed by reset
	next  int
}

// broker is one node of a region.
type broker struct {
	id    int32
	node  string // "primary-0": its namespace and log name
	host  string // its address
	props string // server.properties
	data  string // log dir
	proc  *process
}

var (
	_ env.Region          = (*Region)(nil)
	_ env.BrokerPauser    = (*Region)(nil)
	_ env.PeerPartitioner = (*Region)(nil)
	_ env.Replicated      = (*Region)(nil)
	_ env.ProtocolFaulter = (*Region)(nil)
	_ env.RequestSlower   = (*Region)(nil)
)

// newRegion lays out the region's nodes (namespaces, configs, formatted
// log dirs) without starting them.
func (e *Environment) newRegion(name string, first int) (*Region, error) {
	n := e.cfg.BrokersPerRegion
	r := &Region{e: e, name: name, rf: min(n, 3), minISR: min(n, 2)}
	if n < 3 {
		r.minISR = 1
	}
	var voters []string
	for i := range n {
		b := &broker{id: int32(i), node: fmt.Sprintf("%s-%d", name, i), host: e.net.hostIP(first + i)}
		voters = append(voters, fmt.Sprintf("%d@%s", i, hp(b.host, controllerPort)))
		r.brokers = append(r.brokers, b)
	}
	cluster := clusterID()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, b := range r.brokers {
		wg.Go(func() { errs[i] = e.layoutBroker(r, b, first+i, voters, cluster) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	upstream := map[int32]string{}
	for _, b := range r.brokers {
		upstream[b.id] = hp(b.host, clientPort)
	}
	front, err := protoproxy.New(kafkaproxy.Config{Brokers: upstream})
	if err != nil {
		return r, fmt.Errorf("protocol proxy of region %s: %w", name, err)
	}
	r.front = front
	e.addCloser(front.Close) // closers run before the brokers are killed
	return r, nil
}

func (e *Environment) layoutBroker(r *Region, b *broker, index int, voters []string, cluster string) error {
	dir := filepath.Join(e.dir, b.node)
	b.data = filepath.Join(dir, "data")
	b.props = filepath.Join(dir, "server.properties")
	if err := os.MkdirAll(b.data, 0o755); err != nil {
		return err
	}
	if err := e.net.addHost(index, b.node, b.host); err != nil {
		return fmt.Errorf("namespace of %s: %w", b.node, err)
	}
	if err := writeProps(b.props, brokerProps(b.id, b.host, voters, b.data, r.rf, r.minISR)); err != nil {
		return err
	}
	if err := e.format(b, cluster); err != nil {
		return err
	}
	b.proc = &process{
		name:  "kafka " + b.node,
		argv:  e.net.wrap(b.node, append(jvmArgs(e.dist, filepath.Join(dir, "kafka.log")), "kafka.Kafka", b.props)),
		log:   filepath.Join(dir, "kafka.log"),
		owner: e.owner,
	}
	e.track(b.proc)
	return nil
}

// format writes the node's storage as kafka.tools.StorageTool format
// would: meta.properties (cluster, node and directory ids) and the
// bootstrap metadata snapshot, which holds only the feature levels of the
// distribution and is the same for every node, so StorageTool runs once
// per process (bootstrapSnapshot) instead of once per node.
func (e *Environment) format(b *broker, cluster string) error {
	snap, err := bootstrapSnapshot(e.dist, e.dir)
	if err != nil {
		return err
	}
	return writeStorage(b.data, snap, cluster, b.id)
}

func (r *Region) Name() string { return r.name }

// Bootstrap is the front's listener for every broker.
func (r *Region) Bootstrap() []string { return r.front.Bootstrap() }

// InjectError answers requests matching pf with its error code, at the
// front, until heal.
func (r *Region) InjectError(pf env.ProtocolFault) (func(), error) {
	heal, err := r.front.InjectError(pf)
	if err != nil {
		return nil, fmt.Errorf("region %s: %w", r.name, err)
	}
	return r.tracked(heal), nil
}

// SlowRequests holds requests with API key key for d at the front, until
// heal.
func (r *Region) SlowRequests(key int16, d time.Duration) (func(), error) {
	heal, err := r.front.SlowRequests(key, d)
	if err != nil {
		return nil, fmt.Errorf("region %s: %w", r.name, err)
	}
	return r.tracked(heal), nil
}

// tracked remembers heal until it is called, so reset can heal what a
// test left installed.
func (r *Region) tracked(heal func()) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.heals == nil {
		r.heals = map[int]func(){}
	}
	id := r.next
	r.next++
	r.heals[id] = heal
	return func() {
		r.mu.Lock()
		delete(r.heals, id)
		r.mu.Unlock()
		heal()
	}
}

// healFront heals every fault still installed on the front.
func (r *Region) healFront() {
	r.mu.Lock()
	heals := r.heals
	r.heals = nil
	r.mu.Unlock()
	for _, heal := range heals {
		heal()
	}
}

func (r *Region) Brokers() []int32 {
	ids := make([]int32, len(r.brokers))
	for i, b := range r.brokers {
		ids[i] = b.id
	}
	return ids
}

func (r *Region) ReplicationFactor() int { return r.rf }
func (r *Region) MinInsyncReplicas() int { return r.minISR }

func (r *Region) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append(env.ClientOpts(r.Bootstrap()), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("new client for region %s: %w", r.name, err)
	}
	return cl, nil
}

// CreateTopic creates topic with the region's replication factor and
// waits until every partition has a leader and a full ISR, so a producer
// that starts next is not refused for want of in-sync replicas.
func (r *Region) CreateTopic(ctx context.Context, topic string, partitions int32) error {
	cl, err := r.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, partitions, int16(r.rf), nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s in region %s: %w", topic, r.name, err)
	}
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil && md.Topics[topic].Err == nil && len(md.Topics[topic].Partitions) == int(partitions) {
			ready := true
			for _, p := range md.Topics[topic].Partitions {
				ready = ready && p.Leader >= 0 && len(p.ISR) >= r.minISR
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create topic %s in region %s: partitions without a leader: %w", topic, r.name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *Region) broker(node int32) (*broker, error) {
	if node < 0 || int(node) >= len(r.brokers) {
		return nil, fmt.Errorf("region %s has no broker %d (brokers %v)", r.name, node, r.Brokers())
	}
	return r.brokers[node], nil
}

// start starts the given brokers and waits until the region's metadata
// lists every running broker and a controller.
func (r *Region) start(ctx context.Context, bs ...*broker) error {
	for _, b := range bs {
		if err := b.proc.start(); err != nil {
			return err
		}
	}
	return r.waitReady(ctx, bs)
}

// waitReady polls metadata until every broker whose process runs is
// listed (registered and unfenced) and there is a controller. A broker
// among bs that exits fails it with the tail of its log.
func (r *Region) waitReady(ctx context.Context, bs []*broker) error {
	cl, err := r.Client(kgo.DialTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var last string
	for {
		for _, b := range bs {
			if !b.proc.running() {
				return b.proc.withTail(fmt.Errorf("broker %s exited while starting", b.node))
			}
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		md, err := adm.BrokerMetadata(qctx)
		cancel()
		if err == nil {
			want := 0
			for _, b := range r.brokers {
				if b.proc.running() {
					want++
				}
			}
			if len(md.Brokers) >= want && md.Controller >= 0 {
				listed := true
				for _, b := range bs {
					listed = listed && slices.ContainsFunc(md.Brokers, func(d kadm.BrokerDetail) bool { return d.NodeID == b.id })
				}
				if listed {
					return nil
				}
			}
			last = fmt.Sprintf("metadata lists brokers %v, controller %d", md.Brokers.NodeIDs(), md.Controller)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("region %s not ready (%s): %w", r.name, last, ctx.Err())
			if len(bs) > 0 {
				err = bs[0].proc.withTail(err)
			}
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop kills every node of the region (their data stays); Start brings
// them back on it. Both are idempotent.
func (r *Region) Stop(context.Context) error {
	errs := make([]error, len(r.brokers))
	var wg sync.WaitGroup
	for i, b := range r.brokers {
		wg.Go(func() { errs[i] = b.proc.kill() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Region) Start(ctx context.Context) error {
	var down []*broker
	for _, b := range r.brokers {
		if !b.proc.running() {
			down = append(down, b)
		}
	}
	if len(down) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return r.start(ctx, down...)
}

// CrashBroker is kill -9 of the broker's JVM.
func (r *Region) CrashBroker(_ context.Context, node int32) error {
	b, err := r.broker(node)
	if err != nil {
		return err
	}
	return b.proc.kill()
}

// RestartBroker starts the broker again on its log dirs and waits until
// it is back in the region's metadata.
func (r *Region) RestartBroker(ctx context.Context, node int32) error {
	b, err := r.broker(node)
	if err != nil {
		return err
	}
	if b.proc.running() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return r.start(ctx, b)
}

// PauseBroker freezes the broker's JVM (SIGSTOP): its sockets stay open,
// nothing answers; ResumeBroker thaws it (SIGCONT).
func (r *Region) PauseBroker(_ context.Context, node int32) error {
	b, err := r.broker(node)
	if err != nil {
		return err
	}
	return b.proc.signal(syscall.SIGSTOP)
}

func (r *Region) ResumeBroker(_ context.Context, node int32) error {
	b, err := r.broker(node)
	if err != nil {
		return err
	}
	return b.proc.signal(syscall.SIGCONT)
}

// Isolate drops every packet between the broker's namespace and the root
// namespace (clients, the front, the harness); its peers still reach it.
// The front then closes its clients' connections to the broker, so live
// connections close at once and new ones fail to reach it, as a client
// cut off from the broker sees it.
func (r *Region) Isolate(_ context.Context, node int32) error {
	b, err := r.netFault(node, "isolate")
	if err != nil {
		return err
	}
	if err := r.e.net.cutClients(b.node); err != nil {
		return err
	}
	r.front.CloseConns(b.id)
	return nil
}

func (r *Region) Reconnect(_ context.Context, node int32) error {
	b, err := r.netFault(node, "reconnect")
	if err != nil {
		return err
	}
	return r.e.net.heal(b.node, chainClients)
}

// IsolateFromPeers drops every packet between the broker and the other
// nodes of its region (replication and controller traffic, both ways);
// clients still reach it.
func (r *Region) IsolateFromPeers(_ context.Context, node int32) error {
	b, err := r.netFault(node, "isolate from peers")
	if err != nil {
		return err
	}
	var peers []string
	for _, p := range r.brokers {
		if p != b {
			peers = append(peers, p.host)
		}
	}
	return r.e.net.cutPeers(b.node, peers)
}

func (r *Region) HealPeers(_ context.Context, node int32) error {
	b, err := r.netFault(node, "heal peers")
	if err != nil {
		return err
	}
	return r.e.net.heal(b.node, chainPeers)
}

func (r *Region) netFault(node int32, what string) (*broker, error) {
	b, err := r.broker(node)
	if err != nil {
		return nil, err
	}
	if !r.e.net.netns {
		return nil, fmt.Errorf("%s broker %d of region %s: %w (the nodes backend runs without network namespaces here: %s)",
			what, node, r.name, env.ErrUnsupported, r.e.noNetns)
	}
	return b, nil
}

// nodes are the namespace names of the region's brokers.
func (r *Region) nodes() []string {
	var out []string
	for _, b := range r.brokers {
		out = append(out, b.node)
	}
	return out
}

// RSS is the resident memory of each running broker, by node id.
func (r *Region) RSS() map[int32]int64 {
	out := map[int32]int64{}
	for _, b := range r.brokers {
		if n, err := b.proc.rssBytes(); err == nil {
			out[b.id] = n
		}
	}
	return out
}

func (r *Region) String() string {
	return fmt.Sprintf("region %s: brokers %s", r.name, strings.Join(r.Bootstrap(), ", "))
}

// warmGroups waits until the region answers for a consumer group. Real
// Kafka creates __consumer_offsets only when the first group is asked
// for, and answers COORDINATOR_NOT_AVAILABLE for seconds meanwhile; a
// scenario's first commit or offset fetch must not pay for that (the
// in-memory backends have it at once). The topic is internal, so Reset
// keeps it.
func (r *Region) warmGroups(ctx context.Context) error {
	cl, err := r.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := adm.FetchOffsets(qctx, "pipechaos-warmup")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("region %s: no group coordinator (%v): %w", r.name, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
