package protoproxy

import (
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pipechaos/pipechaos/fakes/kafkaproxy"
	"github.com/pipechaos/pipechaos/harness/env"
)

// Front is a kafkaproxy.Proxy in front of one region's brokers.
type Front struct {
	p *kafkaproxy.Proxy
}

var (
	_ env.ProtocolFaulter = (*Front)(nil)
	_ env.RequestSlower   = (*Front)(nil)
)

// New starts a proxy listener for each broker of cfg.Brokers (node id →
// host:port); see kafkaproxy.Config for the rest.
func New(cfg kafkaproxy.Config) (*Front, error) {
	p, err := kafkaproxy.Start(cfg)
	if err != nil {
		return nil, err
	}
	return &Front{p: p}, nil
}

// Bootstrap is the seed list clients get: the proxy's listeners, in node
// order.
func (f *Front) Bootstrap() []string { return f.p.Bootstrap() }

// Addr is the proxy's address for one broker; "" if it has none.
func (f *Front) Addr(node int32) string { return f.p.Addr(node) }

// InjectError answers requests matching pf with pf.ErrCode until heal (or
// for pf.Count requests). A key the proxy cannot build an error response
// for wraps env.ErrUnsupported; an unknown error code is an error.
func (f *Front) InjectError(pf env.ProtocolFault) (func(), error) {
	if pf.Key >= 0 && !slices.Contains(kafkaproxy.ErrorKeys(), pf.Key) {
		return nil, fmt.Errorf("protocol proxy: error responses for API key %d (%s): %w",
			pf.Key, kmsg.NameForKey(pf.Key), env.ErrUnsupported)
	}
	fault, err := f.p.Inject(kafkaproxy.Rule{
		Key:    pf.Key,
		Topic:  pf.Topic,
		Count:  pf.Count, // -1 (or 0): until healed
		Action: kafkaproxy.Error{Code: pf.ErrCode},
	})
	if err != nil {
		return nil, fmt.Errorf("protocol proxy: %w", err)
	}
	return fault.Heal, nil
}

// SlowRequests holds every request with API key key (-1: any) for d
// before the broker sees it, until heal.
func (f *Front) SlowRequests(key int16, d time.Duration) (func(), error) {
	fault, err := f.p.Inject(kafkaproxy.Rule{Key: key, Action: kafkaproxy.Delay{Duration: d}})
	if err != nil {
		return nil, fmt.Errorf("protocol proxy: %w", err)
	}
	return fault.Heal, nil
}

// Inject installs any kafkaproxy rule (per broker, with a probability,
// ...), for faults the env interfaces do not name.
func (f *Front) Inject(r kafkaproxy.Rule) (*kafkaproxy.Fault, error) { return f.p.Inject(r) }

// Stats counts the requests through the front, per API key: seen, met by
// a fault, answered by the proxy. A check that a fault met the data reads
// it here.
func (f *Front) Stats() kafkaproxy.Stats { return f.p.Stats() }

// SetUpstream points one broker's listener at a new address (a broker
// that came back elsewhere); new client connections dial it.
func (f *Front) SetUpstream(node int32, addr string) error { return f.p.SetUpstream(node, addr) }

// CloseConns closes the client connections to one broker (-1: all), so
// clients reconnect through the same listener.
func (f *Front) CloseConns(node int32) { f.p.CloseConns(node) }

// Close heals every fault, closes the listeners and connections, and waits
// for the proxy to stop. It is idempotent.
func (f *Front) Close() error { return f.p.Close() }
