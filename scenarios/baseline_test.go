package scenarios

import "testing"

func TestBaseline(t *testing.T) { runScenario(t, "baseline") }
