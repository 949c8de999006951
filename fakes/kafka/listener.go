package kafka

import (
	"net"
	"sync"
)

// GatedListener is a net.Listener whose connections can be cut: Isolate
// closes every live connection and refuses new ones (they are accepted and
// closed at once, so a client sees a reset rather than a hang) until
// Reconnect. Accept never fails because of the gate, so the server behind
// it keeps serving once the gate opens.
//
// Close closes the listener and every connection it accepted, like a
// process that died.
type GatedListener struct {
	ln   net.Listener
	addr net.Addr

	mu       sync.Mutex
	isolated bool
	closed   bool
	conns    map[*gatedConn]struct{}
}

// NewGatedListener wraps ln. If advertise is not empty, Addr reports it
// (host:port) instead of the address ln is bound to: a broker bound to
// 0.0.0.0:9092 in a container advertises 127.0.0.1:9092 in metadata.
func NewGatedListener(ln net.Listener, advertise string) *GatedListener {
	l := &GatedListener{ln: ln, addr: ln.Addr(), conns: make(map[*gatedConn]struct{})}
	if advertise != "" {
		l.addr = advertisedAddr(advertise)
	}
	return l
}

type advertisedAddr string

func (advertisedAddr) Network() string  { return "tcp" }
func (a advertisedAddr) String() string { return string(a) }

// Accept waits for the next connection the gate lets through.
func (l *GatedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.isolated || l.closed {
			l.mu.Unlock()
			c.Close()
			continue
		}
		gc := &gatedConn{Conn: c, l: l}
		l.conns[gc] = struct{}{}
		l.mu.Unlock()
		return gc, nil
	}
}

// Addr is the advertised address, or the bound one.
func (l *GatedListener) Addr() net.Addr { return l.addr }

// Close closes the listener and all connections it accepted.
func (l *GatedListener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	err := l.ln.Close()
	l.closeConns()
	return err
}

// Isolate closes live connections and refuses new ones until Reconnect.
func (l *GatedListener) Isolate() {
	l.mu.Lock()
	l.isolated = true
	l.mu.Unlock()
	l.closeConns()
}

// Reconnect lets new connections through again.
func (l *GatedListener) Reconnect() {
	l.mu.Lock()
	l.isolated = false
	l.mu.Unlock()
}

// Isolated reports whether the gate is closed.
func (l *GatedListener) Isolated() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.isolated
}

// Conns is the number of live connections.
func (l *GatedListener) Conns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *GatedListener) closeConns() {
	l.mu.Lock()
	conns := make([]*gatedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type gatedConn struct {
	net.Conn
	l    *GatedListener
	once sync.Once
}

func (c *gatedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return err
}
