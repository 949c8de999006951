package reports

import (
	"fmt"
	"strings"

	"github.com/jstemmer/go-junit-report/v2/junit"
)

// junitCase is the testcase of one run: it fails when the outcome is not
// what the variant should give (see the package doc).
func junitCase(r Report) junit.Testcase {
	tc := junit.Testcase{
		Name:      r.Scenario + "/" + r.Variant,
		Classname: "pipechaos.scenarios." + r.Scenario,
		Time:      fmt.Sprintf("%.3f", r.ElapsedSeconds),
	}
	detail := junitDetail(r)
	switch {
	case r.Status == Errored:
		tc.Error = &junit.Result{Message: r.Error, Type: "error", Data: detail}
	case r.Status == Skipped:
		tc.Skipped = &junit.Result{Message: r.Skipped}
	case r.Status == Inconclusive:
		tc.Failure = &junit.Result{Message: "inconclusive: " + strings.Join(r.Inconclusive, "; "), Type: "inconclusive", Data: detail}
	case !r.Expected && r.Status == BugReproduced && r.Variant == "buggy":
		tc.Failure = &junit.Result{
			Message: fmt.Sprintf("the %s connector was caught, but not by its incident's consequence %q (found: %s): %s",
				r.Variant, r.Expect, strings.Join(r.Consequences, ", "), r.Failure),
			Type: "wrong-consequence", Data: detail,
		}
	case !r.Expected && r.Status == BugReproduced:
		tc.Failure = &junit.Result{Message: r.Failure, Type: "data-loss", Data: detail}
	case !r.Expected:
		tc.Failure = &junit.Result{
			Message: fmt.Sprintf("the %s connector was not caught: every check passed, so the harness does not reproduce the incident", r.Variant),
			Type:    "not-reproduced", Data: detail,
		}
	default:
		tc.SystemOut = &junit.Output{Data: detail}
	}
	return tc
}

func junitDetail(r Report) string {
	var b strings.Builder
	if r.Failure != "" {
		fmt.Fprintf(&b, "%s\n", r.Failure)
	}
	if l := r.Ledger; l != nil {
		fmt.Fprintf(&b, "ledger: attempted=%d acked=%d found=%d lost=%d duplicated=%d unexpected=%d verdict=%s\n",
			l.Attempted, l.Acked, l.FoundRecords, l.Lost, l.Duplicated, l.Unexpected, l.Verdict)
	}
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "violation (%s) %s: %s\n", v.Source, v.Kind, v.Detail)
	}
	fmt.Fprintf(&b, "replay: %s\n", r.Replay)
	return b.String()
}

// junitSuites groups runs into one testsuite per scenario.
func junitSuites(reports []Report) junit.Testsuites {
	suites := junit.Testsuites{Name: "pipechaos"}
	var order []string
	byName := map[string]*junit.Testsuite{}
	var elapsed = map[string]float64{}
	for _, r := range reports {
		s, ok := byName[r.Scenario]
		if !ok {
			s = &junit.Testsuite{Name: "pipechaos/" + r.Scenario, ID: len(order), Package: "github.com/pipechaos/pipechaos/scenarios"}
			s.SetTimestamp(r.Started)
			s.AddProperty("backend", r.Backend)
			byName[r.Scenario] = s
			order = append(order, r.Scenario)
		}
		s.AddProperty("seed."+r.Variant, fmt.Sprint(r.Seed))
		s.AddTestcase(junitCase(r))
		elapsed[r.Scenario] += r.ElapsedSeconds
	}
	var total float64
	for _, name := range order {
		s := byName[name]
		s.Time = fmt.Sprintf("%.3f", elapsed[name])
		total += elapsed[name]
		suites.AddSuite(*s)
	}
	suites.Time = fmt.Sprintf("%.3f", total)
	return suites
}
