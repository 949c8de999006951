// Package scenarios is the catalogue: one file per incident of docs/incidents.md,
// each a harness.Scenario that runs the fixed connector (which must lose
// nothing) and the buggy one (which the harness must catch from the data).
// The CLI lists and runs the same catalogue.
package scenarios

import (
	"context"
	"sort"

	"github.com/pipechaos/pipechaos/harness"
)

var catalogue = map[string]*harness.Scenario{}

// register adds a scenario; each scenario file calls it from init.
func register(s *harness.Scenario) *harness.Scenario {
	if _, dup := catalogue[s.Name]; dup {
		panic("scenario registered twice: " + s.Name)
	}
	run := s.Run
	s.Run = func(ctx context.Context, r *harness.Run) error {
		defer forgetRun(r)
		return run(ctx, r)
	}
	catalogue[s.Name] = s
	return s
}

// All returns every scenario, ordered by incident then name.
func All() []*harness.Scenario {
	out := make([]*harness.Scenario, 0, len(catalogue))
	for _, s := range catalogue {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Incident != out[j].Incident {
			return out[i].Incident < out[j].Incident
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Lookup finds a scenario by name.
func Lookup(name string) (*harness.Scenario, bool) {
	s, ok := catalogue[name]
	return s, ok
}

// Names lists the scenario names in catalogue order.
func Names() []string {
	var names []string
	for _, s := range All() {
		names = append(names, s.Name)
	}
	return names
}
