package scenarios

import "testing"

// TestStoreOutage reproduces incident 10: a store brown-out makes writes
// give up and the sink restart; a sink that committed before writing has
// lost the records of every failed write.
func TestStoreOutage(t *testing.T) { runScenario(t, "store-outage") }
