package scenarios

import "testing"

// TestHotKeySkew is incident 6: salting spreads the hot key and the load;
// the buggy shuffle leaves it on one partition, whose lag dominates.
func TestHotKeySkew(t *testing.T) { runScenario(t, "hot-key-skew") }
