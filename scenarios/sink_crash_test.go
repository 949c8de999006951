package scenarios

import "testing"

// TestSinkCrash kills the sink process with kill -9 mid-PUT, between a PUT
// and its commit, and during a rebalance: a sink that commits before
// writing has lost what was in flight.
func TestSinkCrash(t *testing.T) { runScenario(t, "sink-crash") }
