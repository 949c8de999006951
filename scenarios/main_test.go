package scenarios

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env/backends"
	"github.com/pipechaos/pipechaos/harness/sut"
	"github.com/pipechaos/pipechaos/reports"
)

func TestMain(m *testing.M) {
	sut.Main() // in a sink process started by the scenarios: serve it and exit
	goleak.VerifyTestMain(reportingMain{m})
}

// reportingMain writes the index of every outcome after the tests ran,
// when PIPECHAOS_REPORT_DIR is set.
type reportingMain struct{ m *testing.M }

func (r reportingMain) Run() int {
	code := r.m.Run()
	if err := backends.CloseShared(); err != nil {
		fmt.Fprintf(os.Stderr, "close the shared environment: %v\n", err)
		code = 1
	}
	if dir := os.Getenv("PIPECHAOS_REPORT_DIR"); dir != "" {
		outcomesMu.Lock()
		defer outcomesMu.Unlock()
		if err := reportWriter.WriteIndex(dir, outcomes); err != nil {
			fmt.Fprintf(os.Stderr, "write report index: %v\n", err)
			return 1
		}
		fmt.Printf("reports: %s\n", filepath.Join(dir, "index.html"))
	}
	return code
}

var (
	reportWriter = reports.Writer{Describe: func(name string) *harness.Scenario {
		s, _ := Lookup(name)
		return s
	}}
	outcomesMu sync.Mutex
	outcomes   []harness.Outcome
)

// runScenario runs a scenario's variants as subtests and asserts both
// outcomes: the fixed connector passes every check, the buggy one is caught
// with a BUG REPRODUCED message. The narrative goes to the test log (-v).
func runScenario(t *testing.T, name string) {
	t.Helper()
	s, ok := Lookup(name)
	if !ok {
		t.Fatalf("scenario %q is not in the catalogue (have: %s)", name, strings.Join(Names(), ", "))
	}
	for _, v := range []harness.Variant{harness.Fixed, harness.Buggy} {
		if !s.HasVariant(v) {
			continue
		}
		t.Run(string(v), func(t *testing.T) {
			seed, err := harness.Seed(name)
			if err != nil {
				t.Fatal(err)
			}
			// A scale this machine cannot hold is refused before anything starts.
			deadline, _ := t.Deadline()
			if err := harness.Preflight(s, "", deadline); err != nil {
				t.Fatal(err)
			}
			e := backends.New(t)
			out := harness.Execute(context.Background(), budgeted(s, e), v, e, seed, t.Logf)
			writeReport(t, out)
			if out.Check != nil {
				t.Logf("ledger: %s", out.Check.Summary())
			}
			switch {
			case out.Skipped != "":
				t.Skipf("%s (%s) cannot run on the %s backend: %s", name, v, out.Backend, out.Skipped)
			case out.Error != "":
				t.Fatalf("%s (%s) could not run: %s\nreplay: %s", name, v, out.Error, out.Replay())
			case out.Verdict == checker.Unknown:
				t.Fatalf("%s (%s) is INCONCLUSIVE, it proves nothing: %s\nreplay: %s", name, v, strings.Join(out.Inconclusive, "; "), out.Replay())
			case v == harness.Fixed && out.Failure != "":
				t.Fatalf("fixed connector failed: %s\nreplay: %s", out.Failure, out.Replay())
			case v == harness.Buggy && out.Failure != "" && !out.Caught():
				t.Fatalf("buggy connector caught only by %v, not by its incident's consequence %q: %s\nreplay: %s",
					out.Consequences, out.Expect, out.Failure, out.Replay())
			case v == harness.Buggy && !out.Expected():
				t.Fatalf("buggy connector slipped through: no check failed (seed %d)\nreplay: %s", out.Seed, out.Replay())
			case v == harness.Buggy:
				t.Logf("caught: %s", out.Failure)
			default:
				t.Logf("passed in %s", out.Elapsed.Round(1e6))
			}
		})
	}
}

// writeReport writes the outcome's reports when PIPECHAOS_REPORT_DIR is set.
func writeReport(t *testing.T, out harness.Outcome) {
	dir := os.Getenv("PIPECHAOS_REPORT_DIR")
	if dir == "" {
		return
	}
	if err := reportWriter.WriteOutcome(dir, out); err != nil {
		t.Errorf("write report: %v", err)
	}
	outcomesMu.Lock()
	outcomes = append(outcomes, out)
	outcomesMu.Unlock()
}
