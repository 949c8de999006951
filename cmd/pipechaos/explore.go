package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/explore"
	"github.com/pipechaos/pipechaos/reports"
)

type exploreOpts struct {
	sink       string
	seed       int64
	runs       int
	budget     time.Duration
	records    int
	partitions int
	rate       float64
	faults     string
	keepGoing  bool
	noShrink   bool
	shrinkRuns int
	out        string
	report     string
	backend    string
	process    bool
	sinkCmd    string
}

var exploreCmd = &command{
	name:  "explore",
	args:  "[--sink name] [--seed n] [--runs n] [--time d] [--faults a,b] [--out dir] [--report dir]",
	short: "search fault schedules from a seed, shrink a failure, write its regression file",
	long: `Runs the sink against fault schedules drawn from one seed — which faults are
switched on first, then when each fires (after N acks, while a PUT is in
flight, between a PUT and its commit, during a rebalance, during the drain)
— each run in a fresh environment, with a safety phase (the faults) and a
liveness phase (everything healed: the group must drain). The bucket is
checked after each run: ok, illegal (lost, duplicated, reordered, stale, not
drained, ...) or unknown (no fault met the data; never counted as a pass).

At the first illegal run (or every one, with --keep-going) the schedule is
shrunk — steps dropped, faults shortened, fewer records and partitions —
keeping only changes that fail with the same consequence class, told as a
narrative, and written to --out as a regression file for pipechaos replay.

Sinks: ` + strings.Join(explore.BuiltinSinks(), ", ") + `. A sink of your own:
scenarios.Explore(t, factory) in a Go test.

Exit status: 0 when no run was illegal, 1 when one was (or the exploration
could not run), 2 for a usage mistake.`,
	flags: func(fs *flag.FlagSet) any {
		o := &exploreOpts{}
		fs.StringVar(&o.sink, "sink", explore.SinkFixed, "the sink under test: "+strings.Join(explore.BuiltinSinks(), " or "))
		fs.Int64Var(&o.seed, "seed", 1, "seed every schedule derives from")
		fs.IntVar(&o.runs, "runs", 0, "budget of runs (default 50 unless --time is given)")
		fs.DurationVar(&o.budget, "time", 0, "budget of time, e.g. 5m")
		fs.IntVar(&o.records, "records", explore.DefaultWorkload.Records, "records per run")
		fs.IntVar(&o.partitions, "partitions", int(explore.DefaultWorkload.Partitions), "partitions of the topic")
		fs.Float64Var(&o.rate, "rate", explore.DefaultWorkload.Rate, "records per second (0: as fast as acked)")
		fs.StringVar(&o.faults, "faults", "", "comma-separated fault kinds to draw from (default: every one the backend supports): "+strings.Join(kindList(), ","))
		fs.BoolVar(&o.keepGoing, "keep-going", false, "explore the whole budget after a failure")
		fs.BoolVar(&o.noShrink, "no-shrink", false, "report failures as found, without shrinking")
		fs.IntVar(&o.shrinkRuns, "shrink-runs", 40, "most runs one shrink may make")
		fs.StringVar(&o.out, "out", "out/explore", "directory for regression files")
		fs.StringVar(&o.report, "report", "", "write explore.json and explore.html into this directory")
		fs.StringVar(&o.backend, "backend", "", "embedded (the only backend explore opens per run today)")
		fs.BoolVar(&o.process, "process", false, "run the built-in sink as a child process (kill is SIGKILL, pause is SIGSTOP) instead of in this process")
		fs.StringVar(&o.sinkCmd, "sink-cmd", "", "run this command (through /bin/sh -c) as the sink: it reads its addresses from PIPECHAOS_* variables (see harness/sut)")
		return o
	},
	run: runExploreCmd,
}

func kindList() []string {
	var out []string
	for _, k := range explore.AllKinds() {
		out = append(out, string(k))
	}
	return out
}

func exploreBackend(flagValue string) error {
	b, err := resolveBackend(flagValue)
	if err != nil {
		return err
	}
	if b != env.Embedded {
		return fmt.Errorf("backend %q: explore opens a fresh environment per run, which only the embedded backend does in about a second; use --backend embedded", b)
	}
	return nil
}

func runExploreCmd(ctx context.Context, c *cli, cmd *command, opts any, args []string) int {
	o := opts.(*exploreOpts)
	if len(args) > 0 {
		return c.usageErr(cmd, "takes no arguments (got %q)", strings.Join(args, " "))
	}
	if err := exploreBackend(o.backend); err != nil {
		return c.usageErr(cmd, "%v", err)
	}
	sink, name, err := chooseSink(o.sink, o.process, o.sinkCmd)
	if err != nil {
		return c.usageErr(cmd, "%v", err)
	}
	if o.runs < 0 || o.budget < 0 {
		return c.usageErr(cmd, "--runs and --time cannot be negative")
	}
	var ks []explore.Kind
	if o.faults != "" {
		for _, k := range strings.Split(o.faults, ",") {
			ks = append(ks, explore.Kind(strings.TrimSpace(k)))
		}
	}
	opt := explore.Options{
		Config:   explore.Config{Sink: sink, SinkName: name},
		Seed:     o.seed,
		Runs:     o.runs,
		Time:     o.budget,
		Workload: explore.Workload{Records: o.records, Partitions: int32(o.partitions), Rate: o.rate},
		Kinds:    ks, KeepGoing: o.keepGoing, NoShrink: o.noShrink, ShrinkRuns: o.shrinkRuns, Dir: o.out,
		Progress: func(i int, r explore.Result) {
			line := fmt.Sprintf("run %3d  seed %-17d %-8s", i+1, r.Schedule.Seed, r.Verdict)
			if r.Class != "" {
				line += " " + string(r.Class)
			}
			if r.Error != "" {
				line += " could not run: " + r.Error
			}
			c.printf("%s  %s  (%s)\n", line, stepsLine(r), r.Elapsed.Round(time.Millisecond))
			if r.Verdict == checker.Illegal {
				c.printf("         %s\n", r.Why)
				c.progress("shrinking the schedule (each try is a run)")
			}
		},
	}
	c.progress("exploring %s from seed %d on the embedded backend", name, o.seed)
	rep, err := explore.Explore(ctx, opt)
	if err != nil {
		return c.fail(cmd, "%v", err)
	}
	c.printf("\n%d schedules in %s: %d ok, %d illegal, %d unknown (no fault met the data, or unreadable), %d could not run\n",
		len(rep.Runs), rep.Elapsed.Round(time.Second), rep.Ok, rep.Illegal, rep.Unknown, rep.Errors)
	if len(rep.Unsupported) > 0 {
		c.printf("not drawn (unsupported here):")
		for k, why := range rep.Unsupported {
			c.printf(" %s (%s);", k, why)
		}
		c.printf("\n")
	}
	for _, f := range rep.Findings {
		c.printf("\nFOUND %s at run %d after %s; shrunk in %d runs to %d step(s), %d records, %d partitions:\n",
			f.Minimal.Class, f.Run+1, f.FoundAfter.Round(time.Millisecond), f.ShrinkRuns, len(f.Minimal.Schedule.Steps),
			f.Minimal.Schedule.Workload.Records, f.Minimal.Schedule.Workload.Partitions)
		c.printf("%s\n", f.Minimal.Schedule)
		c.printf("  %s\n", f.Narrative)
		c.printf("confirmed by %d of %d replays%s\n", f.Confirmed, f.Confirmations, map[bool]string{true: " (flaky: exploring on)", false: ""}[f.Flaky])
		if f.File != "" {
			c.printf("regression file: %s\nreplay: pipechaos replay %s\n", f.File, f.File)
		}
	}
	if o.report != "" {
		path, err := reports.WriteExplore(o.report, rep)
		if err != nil {
			return c.fail(cmd, "write the report: %v", err)
		}
		c.printf("report: %s\n", path)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(c.stderr, "pipechaos explore: interrupted")
		return exitFail
	}
	if rep.Illegal > 0 {
		return exitFail
	}
	return exitOK
}

// chooseSink is the SUT the flags ask for and its name.
func chooseSink(name string, process bool, cmdline string) (explore.SUTFactory, string, error) {
	if cmdline != "" {
		return explore.CommandProcess(cmdline), "command", nil
	}
	if process {
		f, err := explore.BuiltinProcess(name)
		return f, name, err
	}
	f, err := explore.BuiltinSink(name)
	if err != nil {
		return nil, "", fmt.Errorf("--sink: %w", err)
	}
	return explore.InProcess(f), name, nil
}

func stepsLine(r explore.Result) string {
	var parts []string
	for _, f := range r.Steps {
		s := string(f.Step.Fault)
		switch {
		case !f.Fired:
			s += "(never fired)"
		case f.Met:
			s += "@" + phasesLine(f.Phases)
		default:
			s += "@" + phasesLine(f.Phases) + "(missed the data)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func phasesLine(ps []explore.Phase) string {
	var out []string
	for _, p := range ps {
		out = append(out, string(p))
	}
	if len(out) == 0 {
		return "idle"
	}
	return strings.Join(out, "+")
}

type replayOpts struct {
	sink    string
	times   int
	backend string
	process bool
	sinkCmd string
}

var replayCmd = &command{
	name:  "replay",
	args:  "FILE [--times n] [--sink name]",
	short: "re-run a regression file and say whether its consequence came back",
	long: `Re-runs the minimal schedule of a regression file written by pipechaos
explore, against the sink it names (or --sink), and says honestly whether it
reproduced: the same consequence class (lost, duplicated, ...) and whether
the counts were the same. Real goroutines and TCP are not deterministic:
--times n replays n times and prints the reproduction rate.

Exit status: 0 when every replay reproduced the consequence, 1 when one did
not (or could not run), 2 for a usage mistake.`,
	flags: func(fs *flag.FlagSet) any {
		o := &replayOpts{}
		fs.StringVar(&o.sink, "sink", "", "replay against this sink instead of the file's: "+strings.Join(explore.BuiltinSinks(), " or "))
		fs.IntVar(&o.times, "times", 1, "how many replays")
		fs.StringVar(&o.backend, "backend", "", "embedded")
		fs.BoolVar(&o.process, "process", false, "run the built-in sink as a child process")
		fs.StringVar(&o.sinkCmd, "sink-cmd", "", "run this command as the sink (see explore --help)")
		return o
	},
	run: func(ctx context.Context, c *cli, cmd *command, opts any, args []string) int {
		o := opts.(*replayOpts)
		if len(args) != 1 {
			return c.usageErr(cmd, "needs exactly one regression file")
		}
		if o.times < 1 {
			return c.usageErr(cmd, "--times must be at least 1")
		}
		if err := exploreBackend(o.backend); err != nil {
			return c.usageErr(cmd, "%v", err)
		}
		reg, err := explore.ReadRegression(args[0])
		if err != nil {
			return c.usageErr(cmd, "%v", err)
		}
		name := reg.Sink
		if o.sink != "" {
			name = o.sink
		}
		sink, name, err := chooseSink(name, o.process, o.sinkCmd)
		if err != nil {
			return c.usageErr(cmd, "%v (a sink of your own replays in a Go test: scenarios.Regression, or with --sink-cmd)", err)
		}
		c.printf("replaying %s against %s: expect %s (lost %d, duplicated %d)\n%s\n", args[0], name, reg.Expect.Class,
			reg.Expect.Lost, reg.Expect.Duplicated, reg.Schedule)
		cfg := explore.Config{Sink: sink, SinkName: name}
		repro, same := 0, 0
		for i := range o.times {
			r, err := explore.Replay(ctx, cfg, reg)
			if err != nil {
				return c.fail(cmd, "%v", err)
			}
			if ctx.Err() != nil {
				break
			}
			if r.Reproduced {
				repro++
			}
			if r.SameCounts {
				same++
			}
			c.printf("replay %d: %s (%s)\n", i+1, r.Says, r.Result.Elapsed.Round(time.Millisecond))
		}
		c.printf("reproduced %d of %d (same counts %d of %d)\n", repro, o.times, same, o.times)
		if repro < o.times {
			return exitFail
		}
		return exitOK
	},
}
