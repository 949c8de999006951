package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/reports"
)

type runOpts struct {
	variant string
	seed    string
	backend string
	report  string
	scale   string
}

var runCmd = &command{
	name:  "run",
	args:  "<scenario> [--variant fixed|buggy] [--seed n] [--backend embedded|containers] [--scale n] [--report dir]",
	short: "reproduce an incident: run a scenario and check the data",
	long: `Runs a scenario on a fresh environment and checks what reached the store.
Without --variant it runs both: the fixed connector (which must lose nothing)
and the buggy one (which the harness must catch with "BUG REPRODUCED: …").
The narrative is printed as it happens, then the ledger and the verdict.

Exit status: 0 when every run came out as expected (fixed passed, buggy
caught), 1 when one did not or could not run, 2 for a usage mistake.
The seed defaults to $PIPECHAOS_SEED, else one derived from the scenario's
name; a failure prints the command that replays it.

--scale N (default $PIPECHAOS_SCALE, else 1) runs the scenario with N times
its records at N times its rate, its record-count fault triggers and its
deadlines moved with them; progress is printed every 2s. A scale this
machine cannot hold (memory, disk, $PIPECHAOS_TIME_BUDGET) is refused
before anything starts, with the largest scale that fits.`,
	flags: func(fs *flag.FlagSet) any {
		o := &runOpts{}
		fs.StringVar(&o.variant, "variant", "", "run only this variant: fixed or buggy (default: both)")
		fs.StringVar(&o.seed, "seed", "", "seed of the workload and fault schedule (default: $PIPECHAOS_SEED, else derived from the scenario name)")
		fs.StringVar(&o.backend, "backend", "", "embedded or containers (default: $PIPECHAOS_BACKEND, else embedded); containers needs Docker and the images of `make images`")
		fs.StringVar(&o.scale, "scale", "", "multiply the scenario's records and rates by this (default: $PIPECHAOS_SCALE, else 1)")
		fs.StringVar(&o.report, "report", "", "write report.json, junit.xml and report.html per run, and an index, into this directory")
		return o
	},
	run: runScenarioCmd,
}

func runScenarioCmd(ctx context.Context, c *cli, cmd *command, opts any, args []string) int {
	o := opts.(*runOpts)
	if len(args) != 1 {
		return c.usageErr(cmd, "needs exactly one scenario name (%s)", names())
	}
	s, err := lookup(args[0])
	if err != nil {
		return c.usageErr(cmd, "%v", err)
	}
	var variants []harness.Variant
	if o.variant != "" {
		v, err := harness.ParseVariant(o.variant)
		if err != nil {
			return c.usageErr(cmd, "--variant: %v", err)
		}
		if !s.HasVariant(v) {
			return c.usageErr(cmd, "scenario %s has no %s variant", s.Name, v)
		}
		variants = []harness.Variant{v}
	} else {
		for _, v := range []harness.Variant{harness.Fixed, harness.Buggy} {
			if s.HasVariant(v) {
				variants = append(variants, v)
			}
		}
	}
	var seed int64
	if o.seed != "" {
		seed, err = strconv.ParseInt(o.seed, 10, 64)
		if err != nil {
			return c.usageErr(cmd, "--seed %q is not an integer", o.seed)
		}
	} else if seed, err = harness.Seed(s.Name); err != nil {
		return c.usageErr(cmd, "%v", err)
	}
	backend, err := resolveBackend(o.backend)
	if err != nil {
		return c.usageErr(cmd, "%v", err)
	}
	if o.scale != "" {
		n, err := harness.ParseScale(o.scale)
		if err != nil {
			return c.usageErr(cmd, "--scale %q: %v", o.scale, err)
		}
		prev, had := os.LookupEnv(harness.ScaleEnv)
		os.Setenv(harness.ScaleEnv, strconv.Itoa(n))
		defer func() {
			if had {
				os.Setenv(harness.ScaleEnv, prev)
			} else {
				os.Unsetenv(harness.ScaleEnv)
			}
		}()
	}
	// A scale the machine cannot hold is refused before any environment starts.
	if err := harness.Preflight(s, backend, time.Time{}); err != nil {
		return c.fail(cmd, "%v", err)
	}

	writer := reports.Writer{Describe: func(name string) *harness.Scenario {
		sc, _ := catalogue.Lookup(name)
		return sc
	}}
	var outcomes []harness.Outcome
	allExpected := true
	for _, v := range variants {
		out, err := c.runOne(ctx, s, v, backend, seed)
		if err != nil {
			return c.fail(cmd, "%v", err)
		}
		outcomes = append(outcomes, out)
		if !c.summarise(out) {
			allExpected = false
		}
		if o.report != "" {
			if err := writer.WriteOutcome(o.report, out); err != nil {
				return c.fail(cmd, "write the report into %s: %v (is the directory writable?)", o.report, err)
			}
			c.printf("report: %s\n", filepath.Join(o.report, reports.RunDir(out.Scenario, string(out.Variant)), "report.html"))
		}
		if ctx.Err() != nil {
			break
		}
	}
	if o.report != "" {
		if err := writer.WriteIndex(o.report, outcomes); err != nil {
			return c.fail(cmd, "write the report index into %s: %v", o.report, err)
		}
		c.printf("\nHTML report: %s\n", filepath.Join(o.report, "index.html"))
		c.printf("JUnit: %s   JSON: %s\n", filepath.Join(o.report, "junit.xml"), filepath.Join(o.report, "index.json"))
	}
	if ctx.Err() != nil {
		fmt.Fprintln(c.stderr, "pipechaos run: interrupted")
		return exitFail
	}
	if !allExpected {
		return exitFail
	}
	return exitOK
}

// runOne starts a fresh environment, runs one variant and tears down.
func (c *cli) runOne(ctx context.Context, s *harness.Scenario, v harness.Variant, backend string, seed int64) (harness.Outcome, error) {
	c.printf("\n=== %s (%s connector), seed %d\n", s.Name, v, seed)
	began := time.Now()
	var mu sync.Mutex
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(c.stdout, "%7.2fs  %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	c.progress("starting the %s environment (two Kafka regions, a schema registry, an S3 store)", backend)
	e, closeEnv, err := openEnv(ctx, backend, 0, func(format string, args ...any) { c.progress(format, args...) })
	if err != nil {
		return harness.Outcome{}, err
	}
	c.progress("environment ready in %s; running (budget %s)", time.Since(began).Round(time.Millisecond), budgetOf(s))
	out := harness.Execute(ctx, s, v, e, seed, logf)
	c.progress("tearing the environment down")
	if err := closeEnv(); err != nil {
		c.progress("teardown: %v", err)
	}
	return out, nil
}

// summarise prints the ledger and the verdict of one run and reports
// whether it was the expected outcome.
func (c *cli) summarise(out harness.Outcome) bool {
	c.printf("--- %s (%s): ", out.Scenario, out.Variant)
	switch {
	case out.Skipped != "":
		c.printf("SKIPPED: %s\n", out.Skipped)
	case out.Error != "":
		c.printf("COULD NOT RUN: %s\n", out.Error)
	case out.Failure != "":
		c.printf("%s\n", out.Failure)
	default:
		c.printf("every check passed\n")
	}
	if out.Check != nil {
		ch := out.Check
		c.printf("    ledger: attempted %d, acked %d, failed %d, indeterminate %d; found %d (%d distinct) in %d objects\n",
			ch.Attempted, ch.Acked, ch.Failed, ch.Indeterminate, ch.FoundRecords, ch.FoundUnique, ch.Objects)
		c.printf("            lost %d, duplicated %d, unexpected %d, reordered %d; verdict %s\n",
			ch.Lost, ch.Duplicated, ch.Unexpected, ch.Reordered, ch.Verdict)
	}
	expected := out.Expected()
	switch {
	case expected && out.Variant == harness.Buggy:
		c.printf("    as expected: the harness caught the buggy connector (%s)\n", out.Elapsed.Round(time.Millisecond))
	case expected:
		c.printf("    as expected: the fixed connector lost nothing (%s)\n", out.Elapsed.Round(time.Millisecond))
	case out.Variant == harness.Buggy && out.Skipped == "" && out.Error == "":
		c.printf("    NOT AS EXPECTED: the buggy connector slipped through\n")
	default:
		c.printf("    NOT AS EXPECTED\n")
	}
	if !expected {
		c.printf("    replay: %s\n", out.Replay())
	}
	return expected
}

func budgetOf(s *harness.Scenario) time.Duration {
	if s.Budget == 0 {
		return 30 * time.Second
	}
	return s.Budget
}
