package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/scenarios"
)

// catalogue is where the CLI finds scenarios; tests replace it.
var catalogue interface {
	All() []*harness.Scenario
	Lookup(name string) (*harness.Scenario, bool)
} = scenarioCatalogue{}

type scenarioCatalogue struct{}

func (scenarioCatalogue) All() []*harness.Scenario { return scenarios.All() }
func (scenarioCatalogue) Lookup(name string) (*harness.Scenario, bool) {
	return scenarios.Lookup(name)
}

func names() string {
	var out []string
	for _, s := range catalogue.All() {
		out = append(out, s.Name)
	}
	if len(out) == 0 {
		return "the catalogue is empty"
	}
	return "known: " + strings.Join(out, ", ")
}

// lookup finds a scenario or explains what to type instead.
func lookup(name string) (*harness.Scenario, error) {
	s, ok := catalogue.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown scenario %q (%s; `pipechaos list` tells their stories)", name, names())
	}
	return s, nil
}

var listCmd = &command{
	name:  "list",
	short: "the scenario catalogue, one line each",
	long:  "Lists every scenario with the incident it reproduces and its one-line story.",
	run: func(_ context.Context, c *cli, cmd *command, _ any, args []string) int {
		if len(args) > 0 {
			return c.usageErr(cmd, "takes no arguments, got %q", strings.Join(args, " "))
		}
		all := catalogue.All()
		if len(all) == 0 {
			c.printf("The catalogue is empty: no scenario is registered in this build.\n")
			return exitOK
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SCENARIO\tINCIDENT\tSTORY")
		for _, s := range all {
			inc := "-"
			if s.Incident > 0 {
				inc = fmt.Sprint(s.Incident)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, inc, s.Title)
		}
		tw.Flush()
		c.printf("\n`pipechaos explain <scenario>` tells the incident; `pipechaos run <scenario>` reproduces it.\n")
		return exitOK
	},
}

var explainCmd = &command{
	name:  "explain",
	args:  "<scenario>",
	short: "the incident, the fault and what is checked",
	long:  "Explains one scenario: the incident it reproduces, the fault it injects, what it checks, and how to run it.",
	run: func(_ context.Context, c *cli, cmd *command, _ any, args []string) int {
		if len(args) != 1 {
			return c.usageErr(cmd, "needs exactly one scenario name (%s)", names())
		}
		s, err := lookup(args[0])
		if err != nil {
			return c.usageErr(cmd, "%v", err)
		}
		c.printf("%s: %s\n", s.Name, s.Title)
		if s.Incident > 0 {
			c.printf("Incident %d of docs/incidents.md\n", s.Incident)
		}
		if s.Consequence != "" {
			c.printf("Its buggy variant must show: %s\n", s.Consequence)
		}
		section := func(title, text string) {
			if strings.TrimSpace(text) == "" {
				return
			}
			c.printf("\n%s\n%s\n", title, indent(strings.TrimSpace(text)))
		}
		section("The incident", s.Story)
		section("The fault", s.Fault)
		section("What is checked", s.Checks)
		var vs []string
		for _, v := range []harness.Variant{harness.Fixed, harness.Buggy} {
			if s.HasVariant(v) {
				vs = append(vs, string(v))
			}
		}
		budget := s.Budget
		if budget == 0 {
			budget = 30e9
		}
		seed, _ := harness.Seed(s.Name)
		c.printf("\nVariants: %s (the fixed connector must lose nothing; the buggy one must be caught). Budget per run: %s.\n", strings.Join(vs, ", "), budget)
		c.printf("Run it:   pipechaos run %s --report out/%s\n", s.Name, s.Name)
		c.printf("Replay:   pipechaos run %s --seed %d\n", s.Name, seed)
		return exitOK
	},
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
