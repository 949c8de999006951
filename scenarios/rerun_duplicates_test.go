package scenarios

import "testing"

// TestRerunDuplicates reproduces incident 9: a sink killed between writing
// objects and committing them is restarted; a rerun that names objects after
// the clock writes those records twice.
func TestRerunDuplicates(t *testing.T) { runScenario(t, "rerun-duplicates") }
