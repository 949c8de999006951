package checker_test

import (
	"fmt"

	"github.com/pipechaos/pipechaos/harness/checker"
)

// A run that acked three records, of which the store holds two, one of them
// twice.
func Example() {
	l := checker.NewLedger()
	for id := uint64(1); id <= 3; id++ {
		l.Attempt(id)
		l.Ack(id)
	}
	c := checker.New(l)
	for _, id := range []uint64{1, 2, 2} {
		c.Record(checker.Found{ID: id, Key: "k", Partition: 0, Object: "topics/e/partition=0/e+0+0.avro"})
	}
	r := c.Result()
	fmt.Println(r.Summary())
	fmt.Println(r.Err())
	// Output:
	// attempted=3 acked=3 found=3 lost=1 duplicated=1 unexpected=0 reordered=0 indeterminate=0 corrupt=0 verdict=illegal
	// checker: verdict illegal:
	// lost: 1 acked records never reached the store (first IDs: 3)
	// duplicated: 1 extra copies of records in the store (first IDs: 2)
}
