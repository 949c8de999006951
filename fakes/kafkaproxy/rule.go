package kafkaproxy

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// An Action is what a Rule does to each request it matches, before the
// request would be forwarded: it may hold it (Delay), answer it in the
// broker's place (Error), or let it go on. It is the whole abstraction a
// new fault implements.
type Action interface {
	// Act runs on the connection's own goroutine; requests behind it on
	// the same connection wait, as they do behind a busy broker. A non-nil
	// response is sent to the client instead of forwarding the request;
	// nil forwards it. ctx is done when the rule is healed or the
	// connection closes.
	Act(ctx context.Context, req *Request) kmsg.Response
}

// A Checker is an Action that validates its parameters and the API keys it
// handles. Inject calls Check with the rule's key (-1 for any) and refuses
// the rule on an error; a rule for any key skips the requests whose key
// Check refuses.
type Checker interface {
	Check(key int16) error
}

// Request is what an Action sees of one client request.
type Request struct {
	// Node is the broker the request is addressed to (the listener it
	// came in on).
	Node int32
	// Key and Version are the request's API key and version.
	Key, Version int16
	// Body is the request, parsed by kmsg. Actions must not change it.
	Body kmsg.Request
	// Topics are the topic names the request names (topic IDs resolved
	// from the metadata the proxy relayed; unknown IDs are left out).
	Topics []string
}

// Rule selects requests and gives them an Action. Every selector is an AND
// filter; its zero value selects everything. Probability, count and
// target live here, not in the Action.
type Rule struct {
	// Key is the Kafka API key (0 produce, 1 fetch, 8 offset commit...);
	// -1 means any key except ApiVersions (18) and SASL (17, 36), which a
	// connection needs before anything else.
	Key int16
	// Topic restricts the rule to requests that name this topic (a
	// request naming it among others matches whole; a request that names
	// no topic, such as a heartbeat or an all-topics metadata request,
	// never matches). "" means any.
	Topic string
	// Nodes restricts the rule to requests addressed to these brokers;
	// nil means all.
	Nodes []int32
	// Count is how many requests the rule acts on before it retires; 0 or
	// less means until healed.
	Count int
	// Probability is the chance, in (0, 1], that a matching request is
	// acted on, drawn from the proxy's seeded source; 0 means always.
	Probability float64
	// Action is what happens to the requests selected. Required.
	Action Action
}

func (r *Rule) validate() error {
	if r.Action == nil {
		return fmt.Errorf("rule for API key %d has no action", r.Key)
	}
	if r.Key < -1 {
		return fmt.Errorf("API key %d is not a key: use -1 for any", r.Key)
	}
	if r.Key >= 0 && kmsg.RequestForKey(r.Key) == nil {
		return fmt.Errorf("API key %d is unknown to kmsg", r.Key)
	}
	if r.Probability < 0 || r.Probability > 1 {
		return fmt.Errorf("probability %v is outside [0, 1]", r.Probability)
	}
	if c, ok := r.Action.(Checker); ok {
		if err := c.Check(r.Key); err != nil {
			return err
		}
	}
	return nil
}

// Fault is an installed Rule. Heal removes it.
type Fault struct {
	p    *Proxy
	rule Rule

	left int // guarded by p.mu; -1 unlimited
	hits atomic.Int64

	ctx    context.Context // done once healed
	cancel context.CancelFunc
	once   sync.Once
}

// Hits is how many requests the rule has acted on so far.
func (f *Fault) Hits() int64 { return f.hits.Load() }

// Rule is the rule as installed.
func (f *Fault) Rule() Rule { return f.rule }

// Heal removes the rule and wakes the requests its action holds. It is
// idempotent.
func (f *Fault) Heal() {
	f.once.Do(func() {
		f.p.mu.Lock()
		// A new slice: act iterates over snapshots of the old one.
		f.p.rules = slices.DeleteFunc(slices.Clone(f.p.rules), func(o *Fault) bool { return o == f })
		f.p.mu.Unlock()
		f.cancel()
	})
}

// Inject installs r. Rules act in the order they were injected; the first
// whose action answers a request ends the chain.
func (p *Proxy) Inject(r Rule) (*Fault, error) {
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("inject rule: %w", err)
	}
	r.Nodes = slices.Clone(r.Nodes)
	f := &Fault{p: p, rule: r, left: r.Count}
	if r.Count <= 0 {
		f.left = -1
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		f.cancel()
		return nil, errClosed
	}
	p.rules = append(p.rules, f)
	return f, nil
}

// claimLocked reports whether f acts on req, taking one from its count. Called
// with p.mu held.
func (f *Fault) claimLocked(p *Proxy, req *Request) bool {
	r := &f.rule
	if f.left == 0 {
		return false
	}
	if r.Key >= 0 && r.Key != req.Key {
		return false
	}
	if r.Key < 0 {
		switch req.Key {
		case 17, 18, 36:
			return false
		}
		if c, ok := r.Action.(Checker); ok && c.Check(req.Key) != nil {
			return false
		}
	}
	if len(r.Nodes) > 0 && !slices.Contains(r.Nodes, req.Node) {
		return false
	}
	if r.Topic != "" && !slices.Contains(req.Topics, r.Topic) {
		return false
	}
	if r.Probability > 0 && r.Probability < 1 && p.rng.Float64() >= r.Probability {
		return false
	}
	if f.left > 0 {
		f.left--
	}
	f.hits.Add(1)
	return true
}

// act runs the rules on req in order and returns the answer of the first
// that answers, or nil to forward. It reports whether any rule acted.
func (p *Proxy) act(ctx context.Context, req *Request) (resp kmsg.Response, acted bool) {
	p.mu.Lock()
	rules := p.rules
	p.mu.Unlock()
	for _, f := range rules {
		p.mu.Lock()
		ok := f.claimLocked(p, req)
		p.mu.Unlock()
		if !ok {
			continue
		}
		acted = true
		actx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(f.ctx, cancel)
		resp = f.rule.Action.Act(actx, req)
		stop()
		cancel()
		if resp != nil {
			return resp, true
		}
	}
	return nil, acted
}
