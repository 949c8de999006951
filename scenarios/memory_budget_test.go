package scenarios

import "testing"

func TestMemoryBudget(t *testing.T) { runScenario(t, "memory-budget") }
