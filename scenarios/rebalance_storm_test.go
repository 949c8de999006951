package scenarios

import "testing"

func TestRebalanceStorm(t *testing.T) { runScenario(t, "rebalance-storm") }
