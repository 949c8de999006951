package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/connect"
	"github.com/pipechaos/pipechaos/reports"
	"github.com/pipechaos/pipechaos/scenarios"
)

type runOpts struct {
	variant     string
	seed        string
	backend     string
	report      string
	scale       string
	sinkCmd     string
	plugins     string
	connector   string
	atLeastOnce bool
	maxCopies   int
	inOrder     bool
	memoryLimit int64
}

var runCmd = &command{
	name:  "run",
	args:  "<scenario> [--variant fixed|buggy] [--seed n] [--backend embedded|nodes|containers] [--scale n] [--report dir] [--sink-cmd 'command' | --connect-plugin dir[,dir] --connector-config file.json] [--at-least-once [--max-copies n]] [--in-order] [--memory-limit bytes]]",
	short: "reproduce an incident: run a scenario and check the data",
	long: `Runs a scenario on a fresh environment and checks what reached the store.
Without --variant it runs both: the fixed connector (which must lose nothing)
and the buggy one (which the harness must catch with "BUG REPRODUCED: …").
The narrative is printed as it happens, then the ledger and the verdict.

Exit status: 0 when every run came out as expected (fixed passed, buggy
caught), 1 when one did not or could not run, 2 for a usage mistake.
The seed defaults to $PIPECHAOS_SEED, else one derived from the scenario's
name; a failure prints the command that replays it.

Your own sink, in any language: --sink-cmd runs it in place of the
catalogue's connector (fixed variant only) as a process the harness starts
through /bin/sh -c, kills with SIGKILL, pauses, restarts in the same
consumer group, caps and measures (peak RSS from outside). It gets its
addresses in the environment:

  PIPECHAOS_BROKERS        seed brokers, comma-separated host:port
  PIPECHAOS_TOPIC          the topic to consume
  PIPECHAOS_GROUP          the consumer group to join (a restarted or
                           second instance joins the same one)
  PIPECHAOS_REGISTRY_URL   the schema registry's base URL (values are Avro
                           in the Confluent wire format)
  PIPECHAOS_S3_ENDPOINT    the object store, host:port, plain HTTP
  PIPECHAOS_S3_ACCESS_KEY  its credentials
  PIPECHAOS_S3_SECRET_KEY
  PIPECHAOS_BUCKET         the bucket to write into (it exists)
  PIPECHAOS_SINK_NAME      unique per sink process in a run

It must write objects under topics/<topic>/ whose records carry the
record's "id" and "key" fields (Avro OCF with the writer schema, or JSON
lines), commit offsets only once its objects are durable, exit 0 on
SIGTERM after writing and committing what it holds, and survive kill -9 at
any instant. Per-key order (--in-order) can only be checked in objects
named topics/<topic>/partition=<p>/<topic>+<p>+<startOffset>.<ext>.

A Kafka Connect sink connector of yours: --connect-plugin DIR (plugin.path
directories, comma-separated; the jars' META-INF/services manifests are how
the worker finds them) and --connector-config FILE.json (the REST API's
create body or the flat config). The harness starts a real Connect worker
(Apache Kafka's ConnectDistributed) per sink instance, puts the connector
through the REST API and reads its status there: a FAILED task ends the
sink. Values of the config may hold placeholders filled per run:
` + "  " + strings.Join(connect.Placeholders, "\n  ") + `
Unless set, topics is the scenario's topic and consumer.override.group.id
its group. pipechaos's own transforms (io.pipechaos.connect.HeaderRouter,
BuggyHeaderRouter) are on the plugin path too.

Scenarios that take a sink: ` + strings.Join(scenarios.SinkScenarios, ", ") + `.
Its stdout and stderr go to a log file whose path the narrative prints.

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
		fs.StringVar(&o.sinkCmd, "sink-cmd", "", "run this command (through /bin/sh -c) as the sink under test instead of the catalogue's; see the environment above")
		fs.StringVar(&o.plugins, "connect-plugin", "", "plugin.path directories of a Kafka Connect connector of yours, comma-separated (with --connector-config)")
		fs.StringVar(&o.connector, "connector-config", "", "that connector's JSON config, run in a real Connect worker as the sink under test; see above")
		fs.BoolVar(&o.atLeastOnce, "at-least-once", false, "with --sink-cmd: the sink promises at-least-once (duplicates counted, not failed); default exactly-once")
		fs.IntVar(&o.maxCopies, "max-copies", 0, "with --at-least-once: the most copies of one record allowed in the bucket (0: no bound)")
		fs.BoolVar(&o.inOrder, "in-order", false, "with --sink-cmd: the sink promises per-key order (needs <topic>+<partition>+<startOffset> object names)")
		fs.Int64Var(&o.memoryLimit, "memory-limit", 0, "with --sink-cmd: cap each sink process's memory at this many bytes (cgroup; an OOM kill is reported)")
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
	if (o.plugins == "") != (o.connector == "") {
		return c.usageErr(cmd, "--connect-plugin and --connector-config go together: the directory with the connector's jars and its JSON config")
	}
	if o.sinkCmd != "" && o.connector != "" {
		return c.usageErr(cmd, "--sink-cmd and --connector-config both name the sink under test: give one")
	}
	if o.sinkCmd == "" && o.connector == "" && (o.atLeastOnce || o.maxCopies != 0 || o.inOrder || o.memoryLimit != 0) {
		return c.usageErr(cmd, "--at-least-once, --max-copies, --in-order and --memory-limit describe a sink of yours: give it with --sink-cmd or --connector-config")
	}
	if o.sinkCmd != "" || o.connector != "" {
		if !scenarios.IsSinkScenario(s.Name) {
			return c.usageErr(cmd, "scenario %s does not take a sink (those that do: %s)", s.Name, strings.Join(scenarios.SinkScenarios, ", "))
		}
		if o.variant == string(harness.Buggy) {
			return c.usageErr(cmd, "--variant buggy runs the catalogue's buggy connector; with --sink-cmd only your sink runs (fixed)")
		}
		if o.maxCopies != 0 && !o.atLeastOnce {
			return c.usageErr(cmd, "--max-copies bounds duplicates, which only --at-least-once allows")
		}
		opts := []scenarios.SinkOption{scenarios.MemoryLimit(o.memoryLimit)}
		if o.atLeastOnce {
			opts = append(opts, scenarios.AtLeastOnce(o.maxCopies))
		}
		if o.inOrder {
			opts = append(opts, scenarios.InOrder())
		}
		var withSink func(*harness.Scenario) *harness.Scenario
		if o.connector != "" {
			withSink, err = scenarios.ConnectSUT(ctx, strings.Split(o.plugins, ","), o.connector, opts...)
		} else {
			withSink, err = scenarios.CommandSUT(o.sinkCmd, opts...)
		}
		if err != nil {
			return c.usageErr(cmd, "%v", err)
		}
		s = withSink(s)
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
	case len(out.Inconclusive) > 0:
		c.printf("INCONCLUSIVE: %s\n", strings.Join(out.Inconclusive, "; "))
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
	case len(out.Inconclusive) > 0:
		c.printf("    NOT AS EXPECTED: the run proves nothing either way\n")
	case out.Variant == harness.Buggy && out.Failure != "":
		c.printf("    NOT AS EXPECTED: caught, but not by the incident's consequence %q (found: %v)\n", out.Expect, out.Consequences)
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
