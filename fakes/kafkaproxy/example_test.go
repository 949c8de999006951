package kafkaproxy_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/fakes/kafkaproxy"
)

// A proxy in front of a broker; a client seeded with the proxy's address;
// produce requests answered with NOT_LEADER_OR_FOLLOWER twice, which the
// client retries through; then with INVALID_RECORD, which it does not,
// until healed.
func ExampleStart() {
	kc, _ := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	defer kc.Close()
	p, err := kafkaproxy.Start(kafkaproxy.Config{Brokers: map[int32]string{0: kc.ListenAddrs()[0]}})
	if err != nil {
		panic(err)
	}
	defer p.Close()

	cl, _ := kgo.NewClient(kgo.SeedBrokers(p.Bootstrap()...), kgo.DefaultProduceTopic("orders"),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	defer cl.Close()
	ctx := context.Background()

	fault, _ := p.Inject(kafkaproxy.Rule{Key: 0, Count: 2, Action: kafkaproxy.Error{Code: 6}})
	err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}).FirstErr()
	fmt.Println("produce:", err, "- faulted requests:", fault.Hits())

	invalid, _ := p.Inject(kafkaproxy.Rule{Key: 0, Action: kafkaproxy.Error{Code: 87}}) // INVALID_RECORD, not retried
	err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("b")}).FirstErr()
	fmt.Println("produce:", errors.Is(err, kerr.InvalidRecord))
	invalid.Heal()
	fmt.Println("after heal:", cl.ProduceSync(ctx, &kgo.Record{Value: []byte("c")}).FirstErr())
	fmt.Println("produce requests seen:", p.Stats().Key(0).Seen, "answered by the proxy:", p.Stats().Key(0).Answered)
	// Output:
	// produce: <nil> - faulted requests: 2
	// produce: true
	// after heal: <nil>
	// produce requests seen: 5 answered by the proxy: 3
}
