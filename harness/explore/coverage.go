package explore

import "fmt"

// Coverage counts, across runs, where faults landed: for each fault kind
// and pipeline phase, how many faults started while that phase held, and
// how many of those met the data. Every cell is a "sometimes" assertion in
// Antithesis's sense: the exploration should hit it at least once, and the
// report says which it never did.
type Coverage struct {
	Kinds  []Kind  `json:"kinds"`
	Phases []Phase `json:"phases"`
	// Fired[kind][phase] and Met[kind][phase] count fault starts.
	Fired map[Kind]map[Phase]int `json:"fired"`
	Met   map[Kind]map[Phase]int `json:"met"`
	// NeverFired counts steps whose trigger never held, per kind.
	NeverFired map[Kind]int `json:"never_fired,omitempty"`
}

func newCoverage(kinds []Kind) *Coverage {
	c := &Coverage{Kinds: kinds, Phases: Phases, Fired: map[Kind]map[Phase]int{}, Met: map[Kind]map[Phase]int{}, NeverFired: map[Kind]int{}}
	for _, k := range kinds {
		c.Fired[k], c.Met[k] = map[Phase]int{}, map[Phase]int{}
	}
	return c
}

// add counts the steps of one run.
func (c *Coverage) add(r Result) {
	for _, f := range r.Steps {
		k := f.Step.Fault
		if c.Fired[k] == nil {
			c.Fired[k], c.Met[k] = map[Phase]int{}, map[Phase]int{}
			c.Kinds = append(c.Kinds, k)
		}
		if !f.Fired {
			c.NeverFired[k]++
			continue
		}
		for _, p := range f.Phases {
			c.Fired[k][p]++
			if f.Met {
				c.Met[k][p]++
			}
		}
	}
}

// Point is one coverage point.
type Point struct {
	Name  string `json:"name"`
	Kind  Kind   `json:"kind"`
	Phase Phase  `json:"phase"`
	Fired int    `json:"fired"`
	Met   int    `json:"met"`
}

// Hit is how many faults of kind k started in phase p and met the data.
func (c *Coverage) Hit(k Kind, p Phase) int { return c.Met[k][p] }

// Points lists every cell as a named point.
func (c *Coverage) Points() []Point {
	var out []Point
	for _, k := range c.Kinds {
		for _, p := range c.Phases {
			out = append(out, Point{Name: pointName(k, p), Kind: k, Phase: p, Fired: c.Fired[k][p], Met: c.Met[k][p]})
		}
	}
	return out
}

func pointName(k Kind, p Phase) string {
	switch k {
	case SinkKill:
		return "a kill landed " + phaseText(p)
	case Store503:
		return "a 503 hit " + phaseText(p)
	case BrokerCrash:
		return "a broker died " + phaseText(p)
	}
	return fmt.Sprintf("%s started %s", k, phaseText(p))
}
