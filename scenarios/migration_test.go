package scenarios

import "testing"

func TestMigration(t *testing.T) { runScenario(t, "migration") }
