package scenarios

import "testing"

// TestRegionOutage reproduces incident 5: a primary region outage under a
// failover producer whose failure handler never tries the secondary.
func TestRegionOutage(t *testing.T) { runScenario(t, "region-outage") }
