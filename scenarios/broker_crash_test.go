package scenarios

import "testing"

func TestBrokerCrash(t *testing.T) { runScenario(t, "broker-crash") }
