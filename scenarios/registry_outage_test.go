package scenarios

import "testing"

// TestRegistryOutage: a registry outage must not cost records of schemas
// already known, and a schema registered during it must fail loudly; a sink
// that looks schemas up on every flush dead-letters healthy records.
func TestRegistryOutage(t *testing.T) { runScenario(t, "registry-outage") }
