package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and the answer is "no": unexpected outcome, incompatible schema, skewed topic, or a runtime error
	exitUsage = 2 // bad flags or arguments, missing files
)

// command is one subcommand.
type command struct {
	name  string // "run", "schema check"
	args  string // synopsis after the name
	short string // one line for the command list
	long  string // help text after the synopsis
	flags func(fs *flag.FlagSet) any
	run   func(ctx context.Context, c *cli, cmd *command, opts any, args []string) int
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// cli carries the streams a command writes to.
type cli struct {
	stdout, stderr io.Writer
}

// commands in the order help lists them.
var commands []*command

func init() {
	commands = []*command{listCmd, explainCmd, runCmd, upCmd, reportCmd, schemaCheckCmd, skewProfileCmd, exploreCmd, replayCmd}
}

// run is the whole program: it parses args, runs the command and returns
// the exit code. Ctrl-C (SIGINT) and SIGTERM cancel the command's context.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdout, stderr)
}

func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Backends log from several goroutines (the containers backend starts
	// its containers in parallel): every write goes through a lock.
	c := &cli{stdout: &lockedWriter{w: stdout}, stderr: &lockedWriter{w: stderr}}
	if len(args) == 0 {
		c.usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return runContext(ctx, append(args[1:], "--help"), stdout, stderr)
		}
		c.usage(stdout)
		return exitOK
	}
	cmd, rest := find(args)
	if cmd == nil {
		name := args[0]
		if len(args) > 1 && (name == "schema" || name == "skew") && !strings.HasPrefix(args[1], "-") {
			name += " " + args[1]
		}
		if name == "schema" || name == "skew" {
			fmt.Fprintf(stderr, "pipechaos %s: missing subcommand: use %q (see pipechaos help)\n", name, subcommands(name))
			return exitUsage
		}
		fmt.Fprintf(stderr, "pipechaos: unknown command %q: run `pipechaos help` for the list\n", name)
		return exitUsage
	}
	fs := flag.NewFlagSet("pipechaos "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var opts any
	if cmd.flags != nil {
		opts = cmd.flags(fs)
	}
	positional, err := parseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		c.help(cmd, fs)
		return exitOK
	}
	if err != nil {
		return c.usageErr(cmd, "%v", err)
	}
	return cmd.run(ctx, c, cmd, opts, positional)
}

// find matches the longest command name at the start of args.
func find(args []string) (*command, []string) {
	for _, cmd := range commands {
		words := strings.Fields(cmd.name)
		if len(args) < len(words) {
			continue
		}
		match := true
		for i, w := range words {
			if args[i] != w {
				match = false
				break
			}
		}
		if match {
			return cmd, args[len(words):]
		}
	}
	return nil, nil
}

func subcommands(prefix string) string {
	var out []string
	for _, cmd := range commands {
		if strings.HasPrefix(cmd.name, prefix+" ") {
			out = append(out, cmd.name)
		}
	}
	return strings.Join(out, `" or "`)
}

// parseInterspersed lets flags come before or after positional arguments:
// `run broker-crash --variant buggy`.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// usageErr prints a one-line error for a usage mistake and returns exitUsage.
func (c *cli) usageErr(cmd *command, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "pipechaos %s: %s (see pipechaos %s --help)\n", cmd.name, fmt.Sprintf(format, args...), cmd.name)
	return exitUsage
}

// fail prints a one-line error for a command that could not do its work.
func (c *cli) fail(cmd *command, format string, args ...any) int {
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", "; ")
	fmt.Fprintf(c.stderr, "pipechaos %s: %s\n", cmd.name, msg)
	return exitFail
}

func (c *cli) printf(format string, args ...any) { fmt.Fprintf(c.stdout, format, args...) }

// progress is a line about a long step, on stderr so stdout stays readable
// by tools.
func (c *cli) progress(format string, args ...any) {
	fmt.Fprintf(c.stderr, "… "+format+"\n", args...)
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "pipechaos reproduces Kafka data-pipeline incidents: it runs a connector against faults and checks the data.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: pipechaos <command> [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-14s %s\n", cmd.name, cmd.short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `pipechaos <command> --help` for a command's flags.")
}

func (c *cli) help(cmd *command, fs *flag.FlagSet) {
	w := c.stdout
	fmt.Fprintf(w, "Usage: pipechaos %s %s\n\n%s\n", cmd.name, cmd.args, strings.TrimSpace(cmd.long))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}
