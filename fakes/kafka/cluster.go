package kafka

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config configures a Cluster.
type Config struct {
	// Ports has one entry per broker; node i listens on Ports[i]. A 0
	// entry picks a free port. Default: one broker on a free port.
	Ports []int
	// ListenHost is the interface brokers bind. Default "127.0.0.1".
	ListenHost string
	// AdvertisedHost is the host brokers give clients in metadata.
	// Default: ListenHost, or 127.0.0.1 when ListenHost is unspecified
	// (0.0.0.0, ::).
	AdvertisedHost string
	// DataDir persists the cluster's logs; the cluster reloads them on
	// start. Default "": memory only.
	DataDir string
	// Opts are extra kfake options, applied last.
	Opts []kfake.Opt
}

func (c *Config) validate() error {
	if len(c.Ports) == 0 {
		c.Ports = []int{0}
	}
	if c.ListenHost == "" {
		c.ListenHost = "127.0.0.1"
	}
	if c.AdvertisedHost == "" {
		c.AdvertisedHost = c.ListenHost
		if ip := net.ParseIP(c.ListenHost); ip != nil && ip.IsUnspecified() {
			c.AdvertisedHost = "127.0.0.1"
		}
	}
	seen := map[int]bool{}
	for _, p := range c.Ports {
		if p < 0 || p > 65535 {
			return fmt.Errorf("port %d is out of range", p)
		}
		if p != 0 && seen[p] {
			return fmt.Errorf("port %d is given twice", p)
		}
		seen[p] = true
	}
	return nil
}

// Cluster is a kfake cluster whose brokers can crash, restart on the same
// port, be isolated, answer with errors and be slowed down.
type Cluster struct {
	cfg Config
	kc  *kfake.Cluster

	mu       sync.Mutex
	ports    map[int32]int          // node -> port, fixed for the life of the cluster
	gates    map[int]*GatedListener // port -> current listener
	isolated map[int]bool           // port -> isolated (survives a restart)
	down     map[int32]bool         // crashed nodes
	faults   map[string]*kfake.FaultHandle
	slows    map[string]chan struct{} // closed on heal
	paused   map[int32]string         // node -> slow id holding all its requests
	closed   bool
}

// Start starts a cluster.
func Start(cfg Config) (*Cluster, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:      cfg,
		ports:    make(map[int32]int),
		gates:    make(map[int]*GatedListener),
		isolated: make(map[int]bool),
		down:     make(map[int32]bool),
		faults:   make(map[string]*kfake.FaultHandle),
		slows:    make(map[string]chan struct{}),
		paused:   make(map[int32]string),
	}
	opts := []kfake.Opt{kfake.Ports(cfg.Ports...), kfake.ListenFn(c.listen)}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	opts = append(opts, cfg.Opts...)
	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start kfake: %w", err)
	}
	c.kc = kc
	for i, addr := range kc.ListenAddrs() {
		_, p, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(p)
		c.ports[int32(i)] = port
	}
	return c, nil
}

// listen is the kfake.ListenFn: kfake asks for 127.0.0.1:port; we bind
// ListenHost:port and advertise AdvertisedHost:port.
func (c *Cluster) listen(network, address string) (net.Listener, error) {
	_, p, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen(network, net.JoinHostPort(c.cfg.ListenHost, p))
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	gl := NewGatedListener(ln, net.JoinHostPort(c.cfg.AdvertisedHost, strconv.Itoa(port)))
	c.mu.Lock()
	c.gates[port] = gl
	if c.isolated[port] {
		gl.Isolate()
	}
	c.mu.Unlock()
	return gl, nil
}

// Kfake is the underlying cluster.
func (c *Cluster) Kfake() *kfake.Cluster { return c.kc }

// Brokers lists the node IDs, running or not, in order.
func (c *Cluster) Brokers() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	nodes := make([]int32, 0, len(c.ports))
	for n := range c.ports {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	return nodes
}

// Addrs are the advertised host:port of every broker, in node order.
func (c *Cluster) Addrs() []string {
	var addrs []string
	for _, n := range c.Brokers() {
		c.mu.Lock()
		p := c.ports[n]
		c.mu.Unlock()
		addrs = append(addrs, net.JoinHostPort(c.cfg.AdvertisedHost, strconv.Itoa(p)))
	}
	return addrs
}

func (c *Cluster) port(node int32) (int, error) {
	p, ok := c.ports[node]
	if !ok {
		return 0, fmt.Errorf("no broker %d", node)
	}
	return p, nil
}

// CrashBroker removes the broker from the cluster and closes its listener
// and connections; its partitions move to the brokers left.
func (c *Cluster) CrashBroker(node int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.port(node); err != nil {
		return err
	}
	if c.down[node] {
		return nil
	}
	if err := c.kc.RemoveNode(node); err != nil {
		return fmt.Errorf("crash broker %d: %w", node, err)
	}
	c.down[node] = true
	return nil
}

// RestartBroker brings a crashed broker back on its port.
func (c *Cluster) RestartBroker(node int32) error {
	c.mu.Lock()
	port, err := c.port(node)
	if err != nil || !c.down[node] {
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock() // AddNode calls listen, which takes mu
	if _, _, err := c.kc.AddNode(node, port); err != nil {
		return fmt.Errorf("restart broker %d on port %d: %w", node, port, err)
	}
	c.mu.Lock()
	delete(c.down, node)
	c.mu.Unlock()
	return nil
}

// Isolate cuts the broker off: live connections close, new ones are refused.
func (c *Cluster) Isolate(node int32) error { return c.gate(node, true) }

// Reconnect undoes Isolate.
func (c *Cluster) Reconnect(node int32) error { return c.gate(node, false) }

func (c *Cluster) gate(node int32, isolate bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	port, err := c.port(node)
	if err != nil {
		return err
	}
	c.isolated[port] = isolate
	if g := c.gates[port]; g != nil {
		if isolate {
			g.Isolate()
		} else {
			g.Reconnect()
		}
	}
	return nil
}

// Fault fails matching requests with a Kafka error code.
type Fault struct {
	// Key is the Kafka API key; -1 means any.
	Key int16 `json:"key"`
	// Topic restricts the fault to one topic; "" means any.
	Topic string `json:"topic,omitempty"`
	// ErrCode is the Kafka error code to answer with.
	ErrCode int16 `json:"err_code"`
	// Count is how many requests to fail; -1 (or 0) until removed.
	Count int `json:"count"`
	// Nodes restricts the fault to these brokers; nil means all.
	Nodes []int32 `json:"nodes,omitempty"`
}

// InjectFault installs f and returns its id for RemoveFault.
func (c *Cluster) InjectFault(f Fault) (string, error) {
	var kf kfake.Fault
	if f.Key >= 0 {
		kf.Keys = []kmsg.Key{kmsg.Key(f.Key)}
	}
	kf.Nodes = f.Nodes
	kf.Topic = f.Topic
	var ke *kerr.Error
	if !errors.As(kerr.ErrorForCode(f.ErrCode), &ke) || f.ErrCode == 0 {
		return "", fmt.Errorf("unknown kafka error code %d", f.ErrCode)
	}
	kf.Err = ke
	kf.Count = f.Count
	if kf.Count == 0 {
		kf.Count = -1
	}
	h := c.kc.Fault(kf)
	id := newID()
	c.mu.Lock()
	c.faults[id] = h
	c.mu.Unlock()
	return id, nil
}

// RemoveFault uninstalls a fault; unknown ids are not an error.
func (c *Cluster) RemoveFault(id string) {
	c.mu.Lock()
	h := c.faults[id]
	delete(c.faults, id)
	c.mu.Unlock()
	if h != nil {
		h.Remove()
	}
}

// Slow delays requests.
type Slow struct {
	// Key is the Kafka API key to delay.
	Key int16 `json:"key"`
	// DelayMs is the delay of each request, in milliseconds.
	DelayMs int64 `json:"delay_ms"`
	// Nodes restricts the delay to these brokers; nil means all.
	Nodes []int32 `json:"nodes,omitempty"`
}

// SlowRequests delays every request with s.Key by s.DelayMs until
// RemoveSlow; it returns the id for RemoveSlow.
func (c *Cluster) SlowRequests(s Slow) (string, error) {
	if s.DelayMs <= 0 {
		return "", fmt.Errorf("delay must be positive, got %dms", s.DelayMs)
	}
	return c.slow(s.Key, time.Duration(s.DelayMs)*time.Millisecond, s.Nodes)
}

// PauseBroker holds every request the broker receives until
// UnpauseBroker, like a frozen process: connections stay open and nothing
// is answered. Pausing a paused broker does nothing.
func (c *Cluster) PauseBroker(node int32) error {
	c.mu.Lock()
	_, err := c.port(node)
	_, paused := c.paused[node]
	c.mu.Unlock()
	if err != nil || paused {
		return err
	}
	id, err := c.slow(-1, 0, []int32{node})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.paused[node] = id
	c.mu.Unlock()
	return nil
}

// UnpauseBroker answers the held requests and stops holding new ones.
func (c *Cluster) UnpauseBroker(node int32) error {
	c.mu.Lock()
	_, err := c.port(node)
	id, paused := c.paused[node]
	delete(c.paused, node)
	c.mu.Unlock()
	if err != nil || !paused {
		return err
	}
	c.RemoveSlow(id)
	return nil
}

// slow holds requests with key (-1: any) on nodes (nil: all) for d, or
// until healed when d is 0.
func (c *Cluster) slow(key int16, d time.Duration, nodes []int32) (string, error) {
	healed := make(chan struct{})
	id := newID()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return "", errors.New("cluster is closed")
	}
	c.slows[id] = healed
	c.mu.Unlock()
	kc := c.kc
	kc.ControlKey(key, func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case <-healed:
			kc.DropControl()
			return nil, nil, false
		default:
		}
		kc.KeepControl()
		if len(nodes) > 0 && !slices.Contains(nodes, kc.CurrentNode()) {
			return nil, nil, false
		}
		kc.SleepControl(func() {
			if d <= 0 {
				<-healed
				return
			}
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-healed:
			}
		})
		return nil, nil, false
	})
	return id, nil
}

// RemoveSlow stops a delay and wakes the requests it holds.
func (c *Cluster) RemoveSlow(id string) {
	c.mu.Lock()
	ch := c.slows[id]
	delete(c.slows, id)
	c.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// Close heals every delay and shuts the cluster down, persisting its
// state when it has a DataDir. It is idempotent.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for id, ch := range c.slows {
		close(ch)
		delete(c.slows, id)
	}
	c.mu.Unlock()
	c.kc.Close()
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
