package explore

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// shortKey is an object's name without its folders and extension, as a
// reader says it: "orders+3+1200".
func shortKey(key string) string {
	b := path.Base(key)
	if i := strings.LastIndexByte(b, '.'); i > 0 {
		b = b[:i]
	}
	return b
}

func has(ps []Phase, p Phase) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

// Narrative tells a run in sentences: what each fault did, where it
// landed, and what came of it.
func Narrative(r Result) string {
	// In the order the faults started, which is not the schedule's order
	// when a later step's trigger held first.
	fired := make([]Fired, 0, len(r.Steps))
	for _, f := range r.Steps {
		if f.Fired {
			fired = append(fired, f)
		}
	}
	sort.SliceStable(fired, func(i, j int) bool { return fired[i].At < fired[j].At })
	var parts []string
	for _, f := range fired {
		parts = append(parts, stepSentence(f))
	}
	if len(parts) == 0 {
		parts = append(parts, "no fault fired")
	}
	out := strings.Join(parts, "; then ")
	if r.Why != "" {
		out += "; " + r.Why
	}
	return upperFirst(out) + "."
}

func stepSentence(f Fired) string {
	st := f.Step
	var lead string
	switch st.Fault {
	case SinkKill, SinkRestart, SinkPause:
		verb := map[Kind]string{SinkKill: "killed", SinkRestart: "stopped", SinkPause: "frozen"}[st.Fault]
		switch {
		case f.PutKey != "" && has(f.Phases, CommitAhead):
			lead = fmt.Sprintf("the sink was %s %d ms into its PUT of %s, whose records the group had already committed past", verb, f.PutAgoMS, shortKey(f.PutKey))
		case f.PutKey != "" && f.PutReturned && has(f.Phases, PutUncommitted):
			lead = fmt.Sprintf("the sink was %s %d ms after its PUT of %s returned and before it committed", verb, f.PutAgoMS, shortKey(f.PutKey))
		case f.PutKey != "":
			lead = fmt.Sprintf("the sink was %s while its PUT of %s was in flight (%d ms in)", verb, shortKey(f.PutKey), f.PutAgoMS)
		default:
			lead = fmt.Sprintf("the sink was %s after %d acks with %d records not committed", verb, f.Acked, f.Lag)
		}
		if st.Fault != SinkPause {
			lead += fmt.Sprintf(", and started again %d ms later", st.HoldMS)
		} else {
			lead += fmt.Sprintf(", for %d ms", st.HoldMS)
		}
	default:
		lead = fmt.Sprintf("%s for %d ms, from %d acks", describeFault(st), st.HoldMS, f.Acked)
		var where []string
		for _, p := range f.Phases {
			if p != Acks {
				where = append(where, phaseText(p))
			}
		}
		if len(where) > 0 {
			lead += " (" + strings.Join(where, ", ") + ")"
		}
		if f.PutKey != "" && (has(f.Phases, PutInFlight) || has(f.Phases, CommitAhead)) {
			lead += fmt.Sprintf(", landing on the PUT of %s", shortKey(f.PutKey))
		}
	}
	if !f.Met {
		lead += " [it did not meet the data: " + f.MetWhy + "]"
	}
	return lead
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
