package scenarios

import "testing"

func TestPollTimeout(t *testing.T) { runScenario(t, "poll-timeout") }
