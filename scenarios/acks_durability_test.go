package scenarios

import "testing"

func TestAcksDurability(t *testing.T) { runScenario(t, "acks-durability") }
