package explore

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/connectors/s3sink"
	"github.com/pipechaos/pipechaos/harness/env"
)

// The built-in sinks the CLI can explore by name.
const (
	// SinkFixed is connectors/s3sink as shipped: write, then commit.
	SinkFixed = "s3sink"
	// SinkCommitBeforeWrite is its buggy variant of incidents 2, 9 and 10
	// (connectors/s3sink/buggy_commit.go): commit, then write.
	SinkCommitBeforeWrite = "s3sink-commit-before-write"
)

var builtin = map[string]func(s3sink.Config) (*s3sink.Sink, error){
	SinkFixed:             s3sink.New,
	SinkCommitBeforeWrite: s3sink.NewCommitBeforeWrite,
}

// BuiltinSinks lists the names BuiltinSink takes.
func BuiltinSinks() []string {
	var out []string
	for n := range builtin {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// BuiltinSink is the factory of a built-in sink, configured as the
// scenarios configure it (scaled-down flushes and group timeouts; a write
// gives up after 4 retries, 20ms doubling to 160ms, so a store outage of a
// few hundred milliseconds fails the instance and the restart policy starts
// another). It knows nothing of the harness but the addresses.
func BuiltinSink(name string) (connectors.SinkFactory, error) {
	build, ok := builtin[name]
	if !ok {
		return nil, fmt.Errorf("unknown sink %q: use one of %s", name, strings.Join(BuiltinSinks(), ", "))
	}
	return func(a connectors.Addresses, process string) (connectors.Sink, error) {
		return build(s3sink.Config{
			Brokers: a.Brokers, Topic: a.Topic, Group: a.Group, RegistryURL: a.RegistryURL,
			S3Endpoint: a.S3Endpoint, S3AccessKey: a.S3AccessKey, S3SecretKey: a.S3SecretKey, Bucket: a.Bucket,
			FlushSize: 500, RotateInterval: 250 * time.Millisecond,
			SessionTimeout: 3 * time.Second, RebalanceTimeout: 3 * time.Second,
			MaxRetries: 4, RetryBackoff: 20 * time.Millisecond, RetryBackoffMax: 160 * time.Millisecond, RetryBudget: 200,
			Process: process,
			KgoOpts: env.ClientOpts(a.Brokers),
		})
	}, nil
}
