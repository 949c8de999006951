package explore

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/nemesis"
)

// Kind is a fault kind.
type Kind string

// The fault kinds. Which of them a run can use depends on the backend and
// the SUT (Supported).
const (
	BrokerCrash   Kind = "broker-crash"
	BrokerIsolate Kind = "broker-isolate"
	BrokerPause   Kind = "broker-pause"
	RegionOutage  Kind = "region-outage"
	Store503      Kind = "store-503"
	Store500      Kind = "store-500"
	StoreHang     Kind = "store-hang"
	StoreLatency  Kind = "store-latency"
	RegistryDown  Kind = "registry-outage"
	CommitErrors  Kind = "commit-errors"
	FetchErrors   Kind = "fetch-errors"
	SlowCommits   Kind = "slow-commits"
	SinkKill      Kind = "sink-kill"
	SinkPause     Kind = "sink-pause"
	SinkRestart   Kind = "sink-restart"
	MemberJoin    Kind = "member-join"
	ProduceErrors Kind = "produce-errors"
)

// defaultLatency is the latency of a step that names none, in ms.
const defaultLatency = 250

// kindInfo is what the explorer knows of a kind.
type kindInfo struct {
	// text describes the fault; the step fills in its parameters.
	text func(Step) string
	// start injects the fault and returns its heal.
	start func(ctx context.Context, rc *runCtx, s Step) (heal func(context.Context) error, err error)
	// supported reports whether e and sut can do it ("" if yes, else why not).
	supported func(e env.Environment, sut SUT) string
	// hold is the range of hold times the generator draws, in ms.
	hold [2]int
}

var kinds = map[Kind]kindInfo{
	BrokerCrash: {
		text: func(s Step) string {
			return fmt.Sprintf("primary broker %d crashes (restarted on its data at heal)", s.Node)
		},
		start: nemesisFault(func(s Step) nemesis.Nemesis { return nemesis.BrokerCrash{Region: env.Primary, Node: s.Node} }),
		hold:  [2]int{100, 1500},
	},
	BrokerIsolate: {
		text:  func(s Step) string { return fmt.Sprintf("primary broker %d is cut off the network", s.Node) },
		start: nemesisFault(func(s Step) nemesis.Nemesis { return nemesis.Partition{Region: env.Primary, Node: s.Node} }),
		hold:  [2]int{100, 1500},
	},
	BrokerPause: {
		text: func(s Step) string { return fmt.Sprintf("primary broker %d is frozen (SIGSTOP)", s.Node) },
		start: func(ctx context.Context, rc *runCtx, s Step) (func(context.Context) error, error) {
			p, ok := rc.env.Region(env.Primary).(env.BrokerPauser)
			if !ok {
				return nil, fmt.Errorf("pause a broker on the %s backend: %w", rc.env.Backend(), env.ErrUnsupported)
			}
			if err := p.PauseBroker(ctx, s.Node); err != nil {
				return nil, err
			}
			return func(ctx context.Context) error { return p.ResumeBroker(ctx, s.Node) }, nil
		},
		supported: func(e env.Environment, _ SUT) string {
			if _, ok := e.Region(env.Primary).(env.BrokerPauser); !ok {
				return "the " + e.Backend() + " backend cannot freeze a broker"
			}
			return ""
		},
		hold: [2]int{100, 1500},
	},
	RegionOutage: {
		text:  func(Step) string { return "the whole primary region goes down" },
		start: nemesisFault(func(Step) nemesis.Nemesis { return nemesis.RegionOutage{Region: env.Primary} }),
		hold:  [2]int{100, 1200},
	},
	Store503: {
		text: func(Step) string { return "the store answers every PUT with 503 SlowDown" },
		start: storeFault(func(Step) env.HTTPFault {
			return env.HTTPFault{Status: 503, Code: "SlowDown", Methods: []string{http.MethodPut}}
		}),
		hold: [2]int{100, 1500},
	},
	Store500: {
		text: func(Step) string { return "the store answers every PUT with 500 InternalError" },
		start: storeFault(func(Step) env.HTTPFault {
			return env.HTTPFault{Status: 500, Code: "InternalError", Methods: []string{http.MethodPut}}
		}),
		hold: [2]int{100, 1500},
	},
	StoreHang: {
		text:  func(Step) string { return "the store holds every PUT unanswered" },
		start: storeFault(func(Step) env.HTTPFault { return env.HTTPFault{Hang: true, Methods: []string{http.MethodPut}} }),
		hold:  [2]int{100, 1000},
	},
	StoreLatency: {
		text: func(s Step) string { return fmt.Sprintf("the store delays every PUT by %d ms", latencyOf(s)) },
		start: storeFault(func(s Step) env.HTTPFault {
			return env.HTTPFault{Latency: time.Duration(latencyOf(s)) * time.Millisecond, Methods: []string{http.MethodPut}}
		}),
		hold: [2]int{200, 1500},
	},
	RegistryDown: {
		text:  func(Step) string { return "the schema registry goes down" },
		start: nemesisFault(func(Step) nemesis.Nemesis { return nemesis.ServiceOutage{Service: nemesis.TargetRegistry} }),
		hold:  [2]int{100, 1500},
	},
	CommitErrors: {
		text: func(Step) string { return "the group coordinator rejects every OffsetCommit (UNKNOWN_SERVER_ERROR)" },
		start: nemesisFault(func(Step) nemesis.Nemesis {
			return &nemesis.ProtocolErrors{Region: env.Primary, Fault: env.ProtocolFault{Key: 8, ErrCode: -1, Count: -1}}
		}),
		supported: protocolSupported,
		hold:      [2]int{100, 1200},
	},
	FetchErrors: {
		text: func(Step) string { return "the brokers answer every Fetch with NOT_LEADER_OR_FOLLOWER" },
		start: nemesisFault(func(Step) nemesis.Nemesis {
			return &nemesis.ProtocolErrors{Region: env.Primary, Fault: env.ProtocolFault{Key: 1, ErrCode: 6, Count: -1}}
		}),
		supported: protocolSupported,
		hold:      [2]int{100, 1200},
	},
	ProduceErrors: {
		text: func(Step) string { return "the brokers answer every Produce with NOT_LEADER_OR_FOLLOWER" },
		start: nemesisFault(func(Step) nemesis.Nemesis {
			return &nemesis.ProtocolErrors{Region: env.Primary, Fault: env.ProtocolFault{Key: 0, ErrCode: 6, Count: -1}}
		}),
		supported: protocolSupported,
		hold:      [2]int{100, 800},
	},
	SlowCommits: {
		text: func(s Step) string { return fmt.Sprintf("every OffsetCommit is delayed by %d ms", latencyOf(s)) },
		start: nemesisFault(func(s Step) nemesis.Nemesis {
			return &nemesis.SlowRequests{Region: env.Primary, Key: 8, Delay: time.Duration(latencyOf(s)) * time.Millisecond}
		}),
		supported: func(e env.Environment, _ SUT) string {
			if _, ok := e.Region(env.Primary).(env.RequestSlower); !ok {
				return "the " + e.Backend() + " backend cannot slow Kafka requests"
			}
			return ""
		},
		hold: [2]int{300, 1500},
	},
	SinkKill: {
		text: func(Step) string { return "the sink is killed (no flush, no commit) and restarted at heal" },
		start: func(ctx context.Context, rc *runCtx, _ Step) (func(context.Context) error, error) {
			if err := rc.sut.Kill(ctx); err != nil {
				return nil, err
			}
			return rc.sut.Restart, nil
		},
		hold: [2]int{0, 600},
	},
	SinkPause: {
		text: func(Step) string { return "the sink is frozen (SIGSTOP) and resumed at heal" },
		start: func(ctx context.Context, rc *runCtx, _ Step) (func(context.Context) error, error) {
			if err := rc.sut.Pause(ctx); err != nil {
				return nil, err
			}
			return rc.sut.Resume, nil
		},
		supported: func(_ env.Environment, sut SUT) string {
			if !sut.CanPause() {
				return "an in-process sink cannot be frozen (a process-backed SUT can)"
			}
			return ""
		},
		hold: [2]int{200, 2000},
	},
	SinkRestart: {
		text: func(Step) string { return "the sink is stopped cleanly and started again at heal" },
		start: func(ctx context.Context, rc *runCtx, _ Step) (func(context.Context) error, error) {
			if err := rc.sut.Stop(ctx); err != nil {
				return nil, err
			}
			return rc.sut.Restart, nil
		},
		hold: [2]int{0, 600},
	},
	MemberJoin: {
		text: func(Step) string { return "a second sink instance joins the group (and leaves at heal)" },
		start: func(ctx context.Context, rc *runCtx, _ Step) (func(context.Context) error, error) {
			leave, err := rc.sut.Join(ctx)
			if err != nil {
				return nil, err
			}
			return leave, nil
		},
		hold: [2]int{300, 2000},
	},
}

func latencyOf(s Step) int {
	if s.LatencyMS > 0 {
		return s.LatencyMS
	}
	return defaultLatency
}

func protocolSupported(e env.Environment, _ SUT) string {
	if _, ok := e.Region(env.Primary).(env.ProtocolFaulter); !ok {
		return "the " + e.Backend() + " backend cannot answer Kafka requests with errors"
	}
	return ""
}

// nemesisFault runs a harness/nemesis fault.
func nemesisFault(build func(Step) nemesis.Nemesis) func(context.Context, *runCtx, Step) (func(context.Context) error, error) {
	return func(ctx context.Context, rc *runCtx, s Step) (func(context.Context) error, error) {
		n := build(s)
		if err := n.Start(ctx, rc.env); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return n.Heal(ctx, rc.env) }, nil
	}
}

// storeFault injects an HTTP fault at the store's fault layer.
func storeFault(build func(Step) env.HTTPFault) func(context.Context, *runCtx, Step) (func(context.Context) error, error) {
	return nemesisFault(func(s Step) nemesis.Nemesis {
		return &nemesis.HTTPFault{Service: nemesis.TargetStore, Fault: build(s)}
	})
}

func describeFault(s Step) string {
	if k, ok := kinds[s.Fault]; ok {
		return k.text(s)
	}
	return string(s.Fault)
}

func kindNames() []string {
	var out []string
	for k := range kinds {
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out
}

// AllKinds lists every fault kind, sorted.
func AllKinds() []Kind {
	var out []Kind
	for _, n := range kindNames() {
		out = append(out, Kind(n))
	}
	return out
}

// Supported splits the fault kinds into those e and sut can do and those
// they cannot (with the reason).
func Supported(e env.Environment, sut SUT) (ok []Kind, not map[Kind]string) {
	not = map[Kind]string{}
	for _, k := range AllKinds() {
		info := kinds[k]
		if info.supported != nil {
			if why := info.supported(e, sut); why != "" {
				not[k] = why
				continue
			}
		}
		ok = append(ok, k)
	}
	return ok, not
}

// isBrokerFault reports whether k targets one broker.
func isBrokerFault(k Kind) bool { return k == BrokerCrash || k == BrokerIsolate || k == BrokerPause }

// isStoreFault reports whether k is an HTTP fault of the store.
func isStoreFault(k Kind) bool {
	return k == Store503 || k == Store500 || k == StoreHang || k == StoreLatency
}

// isSinkFault reports whether k acts on the SUT itself.
func isSinkFault(k Kind) bool {
	return k == SinkKill || k == SinkPause || k == SinkRestart || k == MemberJoin
}
