package kafkaproxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Config configures a Proxy.
type Config struct {
	// Brokers maps each upstream broker's node id to its host:port.
	// Required, at least one.
	Brokers map[int32]string
	// Ports fixes the local port of a node's listener; a missing or 0
	// entry picks a free port.
	Ports map[int32]int
	// ListenHost is the loopback address the listeners bind. Default
	// "127.0.0.1".
	ListenHost string
	// Seed seeds the draws of Rule.Probability. Default 1.
	Seed uint64
	// DialTimeout bounds each dial to a broker. Default 5s.
	DialTimeout time.Duration
	// Logf, if set, gets one line per connection the proxy had to close
	// (broker unreachable, broken frame). Default: no logging.
	Logf func(format string, args ...any)
}

func (c *Config) validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("no brokers: Config.Brokers maps node ids to upstream host:port")
	}
	for n, a := range c.Brokers {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("broker %d address %q is not host:port: %w", n, a, err)
		}
	}
	seen := map[int]int32{}
	for n, port := range c.Ports {
		if _, ok := c.Brokers[n]; !ok {
			return fmt.Errorf("port given for node %d, which is not in Brokers", n)
		}
		if port < 0 || port > 65535 {
			return fmt.Errorf("port %d of node %d is out of range", port, n)
		}
		if o, dup := seen[port]; dup && port != 0 {
			return fmt.Errorf("port %d is given to nodes %d and %d", port, o, n)
		}
		seen[port] = n
	}
	if c.ListenHost == "" {
		c.ListenHost = "127.0.0.1"
	}
	if ip := net.ParseIP(c.ListenHost); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen host %q is not a loopback address: the proxy only listens on loopback", c.ListenHost)
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	return nil
}

// Proxy is a Kafka-protocol-aware proxy: one listener per upstream broker.
type Proxy struct {
	cfg    Config
	ctx    context.Context // done on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	nodes    map[int32]*node
	rules    []*Fault
	rng      *rand.Rand
	topicIDs map[[16]byte]string
	conns    map[*conn]struct{}
	stats    Stats
	closed   bool
}

// node is one upstream broker and the listener in front of it.
type node struct {
	id       int32
	ln       net.Listener
	host     string
	port     int32
	upstream string // guarded by Proxy.mu
}

// Start opens one listener per broker of cfg and serves them until Close.
func Start(cfg Config) (*Proxy, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("start kafka proxy: %w", err)
	}
	p := &Proxy{
		cfg:      cfg,
		nodes:    make(map[int32]*node),
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		topicIDs: make(map[[16]byte]string),
		conns:    make(map[*conn]struct{}),
		stats:    Stats{ByKey: make(map[int16]KeyStats), ByNode: make(map[int32]KeyStats)},
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	ids := make([]int32, 0, len(cfg.Brokers))
	for id := range cfg.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var err error
	p.mu.Lock()
	for _, id := range ids {
		if _, err = p.addLocked(id, cfg.Brokers[id], cfg.Ports[id]); err != nil {
			break
		}
	}
	p.mu.Unlock()
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("start kafka proxy: %w", err)
	}
	return p, nil
}

// addLocked opens the listener of node id. Called with p.mu held.
func (p *Proxy) addLocked(id int32, upstream string, port int) (*node, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(p.cfg.ListenHost, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("listen for broker %d: %w", id, err)
	}
	a := ln.Addr().(*net.TCPAddr)
	n := &node{id: id, ln: ln, host: p.cfg.ListenHost, port: int32(a.Port), upstream: upstream}
	p.nodes[id] = n
	p.wg.Add(1)
	go p.accept(n)
	return n, nil
}

// listenerFor is the proxy address of node id. A node the proxy has no
// listener for (a broker added to the cluster after Start) gets one, with
// the address the broker advertised as its upstream.
func (p *Proxy) listenerFor(id int32, host string, port int32) (string, int32, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.nodes[id]; n != nil {
		return n.host, n.port, true
	}
	if p.closed {
		return "", 0, false
	}
	n, err := p.addLocked(id, net.JoinHostPort(host, strconv.Itoa(int(port))), 0)
	if err != nil {
		p.logf("kafka proxy: %v", err)
		return "", 0, false
	}
	return n.host, n.port, true
}

// Addr is the proxy's host:port for node id; "" if it has none.
func (p *Proxy) Addr(id int32) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.nodes[id]; n != nil {
		return net.JoinHostPort(n.host, strconv.Itoa(int(n.port)))
	}
	return ""
}

// Addrs maps every node id to the proxy's host:port for it.
func (p *Proxy) Addrs() map[int32]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[int32]string, len(p.nodes))
	for id, n := range p.nodes {
		m[id] = net.JoinHostPort(n.host, strconv.Itoa(int(n.port)))
	}
	return m
}

// Bootstrap is the proxy's listeners in node order: the seed list to give
// clients instead of the brokers' addresses.
func (p *Proxy) Bootstrap() []string {
	m := p.Addrs()
	ids := make([]int32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = m[id]
	}
	return out
}

// SetUpstream points node id's listener at a new broker address; new
// client connections dial it, live ones keep theirs. A broker restarted on
// the same address needs nothing: each client connection dials its broker
// anew.
func (p *Proxy) SetUpstream(id int32, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("set upstream of broker %d: %q is not host:port: %w", id, addr, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[id]
	if n == nil {
		return fmt.Errorf("set upstream: the proxy has no broker %d", id)
	}
	n.upstream = addr
	return nil
}

// CloseConns closes every client connection to node id (-1: all nodes),
// as a broker's restart would; clients reconnect through the same
// listener.
func (p *Proxy) CloseConns(id int32) {
	p.mu.Lock()
	var cs []*conn
	for c := range p.conns {
		if id < 0 || c.node.id == id {
			cs = append(cs, c)
		}
	}
	p.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
}

// Close heals every rule, closes the listeners and every connection, and
// waits for the proxy's goroutines to end. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	rules := slices.Clone(p.rules)
	var lns []net.Listener
	for _, n := range p.nodes {
		lns = append(lns, n.ln)
	}
	p.mu.Unlock()
	for _, f := range rules {
		f.Heal()
	}
	p.cancel()
	var errs []error
	for _, ln := range lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	p.CloseConns(-1)
	p.wg.Wait()
	return errors.Join(errs...)
}

func (p *Proxy) logf(format string, args ...any) {
	if p.cfg.Logf != nil {
		p.cfg.Logf(format, args...)
	}
}

func (p *Proxy) accept(n *node) {
	defer p.wg.Done()
	for {
		c, err := n.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.logf("kafka proxy: accept for broker %d: %v", n.id, err)
			}
			return
		}
		p.wg.Add(1)
		go p.serve(n, c)
	}
}
