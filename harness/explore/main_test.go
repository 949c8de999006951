package explore

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness/sut"
)

func TestMain(m *testing.M) {
	sut.Main() // a sink process started by BuiltinProcess: serve it and exit
	goleak.VerifyTestMain(m)
}
