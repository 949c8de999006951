package scenarios

import "testing"

func TestSchemaDrift(t *testing.T) { runScenario(t, "schema-drift") }
