package kafkaproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn is one client connection and its own connection to the broker.
// Three goroutines: the request loop (client → rules → broker), the
// broker reader, and the response loop (answers to the client, in request
// order: the proxy's own answers and the broker's, interleaved as the
// requests came).
type conn struct {
	p      *Proxy
	node   *node
	client net.Conn
	up     net.Conn
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

// pending is one answer the client is owed, in request order: either the
// proxy's own (frame set) or the broker's next response.
type pending struct {
	h     header
	frame []byte
}

func (c *conn) close() {
	c.once.Do(func() {
		c.cancel()
		c.client.Close()
		c.up.Close()
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	})
}

func (p *Proxy) serve(n *node, client net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	upstream := n.upstream
	p.stats.Conns++
	p.mu.Unlock()
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	up, err := d.DialContext(p.ctx, "tcp", upstream)
	if err != nil {
		p.mu.Lock()
		p.stats.DialErrors++
		p.mu.Unlock()
		p.logf("kafka proxy: broker %d at %s: %v", n.id, upstream, err)
		reset(client)
		return
	}
	c := &conn{p: p, node: n, client: client, up: up}
	c.ctx, c.cancel = context.WithCancel(p.ctx)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.cancel()
		client.Close()
		up.Close()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	defer c.close()

	owed := make(chan pending, 32)
	fromUp := make(chan []byte)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.readBroker(fromUp) }()
	go func() { defer wg.Done(); c.respond(owed, fromUp) }()
	c.requests(owed)
	c.close()
	wg.Wait()
}

// requests reads the client's requests, runs the rules on each, and
// forwards the ones no rule answered.
func (c *conn) requests(owed chan<- pending) {
	p := c.p
	for {
		frame, err := readFrame(c.client)
		if err != nil {
			c.fail("read request", err)
			return
		}
		h, err := parseRequest(frame)
		if err != nil {
			c.fail("parse request", err)
			return
		}
		var (
			answer kmsg.Response
			acted  bool
		)
		p.mu.Lock()
		hasRules := len(p.rules) > 0
		if h.req == nil {
			p.stats.Unparsed++
		}
		p.mu.Unlock()
		if hasRules && h.req != nil {
			req := &Request{Node: c.node.id, Key: h.key, Version: h.version, Body: h.req}
			req.Topics = requestTopics(h.req, p.topicName)
			answer, acted = p.act(c.ctx, req)
			if c.ctx.Err() != nil {
				return
			}
		}
		p.mu.Lock()
		p.countLocked(c.node.id, h.key, acted, answer != nil)
		p.mu.Unlock()

		noResponse := false
		if pr, ok := h.req.(*kmsg.ProduceRequest); ok && pr.Acks == 0 {
			noResponse = true
		}
		var o pending
		if answer != nil {
			if noResponse {
				continue
			}
			o = pending{h: h, frame: appendResponse(nil, h.corr, h.flexible, answer)}
		} else {
			if _, err := c.up.Write(frame); err != nil {
				c.fail("forward request", err)
				return
			}
			if noResponse {
				continue
			}
			o = pending{h: h}
		}
		select {
		case owed <- o:
		case <-c.ctx.Done():
			return
		}
	}
}

// readBroker reads the broker's responses; a broker that closes the
// connection closes the client's too.
func (c *conn) readBroker(fromUp chan<- []byte) {
	for {
		frame, err := readFrame(c.up)
		if err != nil {
			c.fail("read response", err)
			return
		}
		select {
		case fromUp <- frame:
		case <-c.ctx.Done():
			return
		}
	}
}

// respond writes the client's answers in request order.
func (c *conn) respond(owed <-chan pending, fromUp <-chan []byte) {
	for {
		var o pending
		select {
		case o = <-owed:
		case <-c.ctx.Done():
			return
		}
		frame := o.frame
		if frame == nil {
			select {
			case frame = <-fromUp:
			case <-c.ctx.Done():
				return
			}
			frame = c.p.rewriteResponse(o.h, frame)
		}
		if _, err := c.client.Write(frame); err != nil {
			c.fail("write response", err)
			return
		}
	}
}

// reset closes a client connection with a TCP reset rather than a FIN. A
// client whose broker is down would have had its dial refused; through the
// proxy it was accepted, so the nearest equivalent is a reset on its first
// read. A FIN there would read as an immediate EOF, which clients take for
// a TLS or SASL mismatch and do not retry (franz-go fails the producer ID
// load and every buffered record with it).
func reset(client net.Conn) {
	if tc, ok := client.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	client.Close()
}

func (c *conn) fail(what string, err error) {
	if c.ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.p.logf("kafka proxy: broker %d: %s: %v", c.node.id, what, err)
	}
	c.close()
}
