package scenarios

import "testing"

// TestNullHeaderKillsTheFilter is incident 1: the fixed filter routes every
// record and counts the headers it cannot read; the buggy one stops the
// sink at the first, and the harness finds the records that never arrived.
func TestNullHeaderKillsTheFilter(t *testing.T) { runScenario(t, "null-headers") }
