package skew

import (
	"context"
	"math/rand"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BuggyRekey is the shuffle stage as the job of incident 6 had it. A daily
// job went from 30 minutes to 2 hours with no code change: one tenant held
// most of the records, its partition's task ran for ages and its executor
// died, while every other task finished in minutes. The job did "salt" the
// hot key — and the salt changed nothing.
//
// The defect is the line marked BUG below: the salted key is computed and
// carried along (in the SaltedKeyHeader header, where the job's aggregation
// read its grouping key), but the record keeps its raw key, and the raw key is what
// the partitioner hashes. Every record of the hot key still lands in one
// partition: the Spark equivalent of adding a salted column and then
// repartitioning by the original one. Rekey sets Record.Key instead.
func BuggyRekey(ctx context.Context, cl *kgo.Client, src, dst string, plan Plan, rnd *rand.Rand) (int, error) {
	return copyTopic(ctx, cl, src, dst, func(in *kgo.Record) *kgo.Record {
		out := copyRecord(in, dst)
		if k := string(in.Key); plan.Keys[k] {
			// BUG: the partitioner hashes out.Key, which is still the raw key.
			out.Headers = append(out.Headers, kgo.RecordHeader{Key: SaltedKeyHeader, Value: []byte(plan.Key(k, rnd))})
		}
		return out
	})
}

// SaltedKeyHeader is where BuggyRekey puts the salted key.
const SaltedKeyHeader = "pipechaos-salted-key"
