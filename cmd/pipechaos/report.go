package main

import (
	"context"
	"flag"
	"path/filepath"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/reports"
)

type reportOpts struct{ out string }

var reportCmd = &command{
	name:  "report",
	args:  "--out dir history.json...",
	short: "re-render reports from recorded runs (history.json)",
	long: `Renders report.json, junit.xml and report.html for each recorded run
(the history.json a run's report directory holds, gzipped or not, e.g.
reports/testdata/*.json.gz),
and an index over all of them, into --out.`,
	flags: func(fs *flag.FlagSet) any {
		o := &reportOpts{}
		fs.StringVar(&o.out, "out", "", "directory to write the reports into (required)")
		return o
	},
	run: func(_ context.Context, c *cli, cmd *command, opts any, args []string) int {
		o := opts.(*reportOpts)
		if o.out == "" {
			return c.usageErr(cmd, "--out is required")
		}
		if len(args) == 0 {
			return c.usageErr(cmd, "name at least one history.json")
		}
		var outcomes []harness.Outcome
		for _, path := range args {
			out, err := reports.ReadRecorded(path)
			if err != nil {
				return c.usageErr(cmd, "%v", err)
			}
			outcomes = append(outcomes, out)
		}
		w := reports.Writer{Describe: func(name string) *harness.Scenario {
			s, _ := catalogue.Lookup(name)
			return s
		}}
		for _, out := range outcomes {
			if err := w.WriteOutcome(o.out, out); err != nil {
				return c.fail(cmd, "%v", err)
			}
			c.printf("report: %s\n", filepath.Join(o.out, reports.RunDir(out.Scenario, string(out.Variant)), "report.html"))
		}
		if err := w.WriteIndex(o.out, outcomes); err != nil {
			return c.fail(cmd, "%v", err)
		}
		c.printf("index:  %s\n", filepath.Join(o.out, "index.html"))
		return exitOK
	},
}
