package scenarios

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pipechaos/pipechaos/harness"
)

// Every incident a scenario names is told in docs/incidents.md, and every
// scenario with a buggy variant declares the consequence that variant must
// show (else any finding would count as a catch).
func TestEveryIncidentIsToldAndDeclaresItsConsequence(t *testing.T) {
	doc, err := os.ReadFile("../docs/incidents.md")
	if err != nil {
		t.Fatalf("the incident stories must ship with the repository: %v", err)
	}
	for _, name := range Names() {
		s, _ := Lookup(name)
		if s.Incident > 0 && !strings.Contains(string(doc), fmt.Sprintf("\n## %d. ", s.Incident)) {
			t.Errorf("%s names incident %d, which docs/incidents.md does not tell", name, s.Incident)
		}
		if s.HasVariant(harness.Buggy) && s.Consequence == "" {
			t.Errorf("%s has a buggy variant but declares no consequence", name)
		}
		if s.Consequence != "" && !strings.Contains(string(doc), "consequence: "+string(s.Consequence)) {
			t.Errorf("%s's consequence %q is not the one docs/incidents.md gives", name, s.Consequence)
		}
	}
}
