package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipechaos runs the command line and returns its exit code and output.
func pipechaos(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runContext(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// errorLine returns the one line of stderr that is the error (progress
// lines start with "…"), failing if there is not exactly one.
func errorLine(t *testing.T, stderr string) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if strings.HasPrefix(l, "pipechaos") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Errorf("want one error line on stderr, got %q", stderr)
		return ""
	}
	return lines[0]
}

// fakeCatalogue replaces the scenario catalogue for one test.
type fakeCatalogue []*harness.Scenario

func (f fakeCatalogue) All() []*harness.Scenario { return f }
func (f fakeCatalogue) Lookup(name string) (*harness.Scenario, bool) {
	for _, s := range f {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

func useCatalogue(t *testing.T, ss ...*harness.Scenario) {
	old := catalogue
	catalogue = fakeCatalogue(ss)
	t.Cleanup(func() { catalogue = old })
}

var story = &harness.Scenario{
	Name: "null-headers", Incident: 1, Title: "a null header kills the filter",
	Story:  "A filter routed by header; legacy records had none; the NPE stopped the connector.",
	Fault:  "records without the header, mid-stream",
	Checks: "every record reaches a bucket; the filter counts what it tolerated",
	Run:    func(context.Context, *harness.Run) error { return nil },
}

func TestHelp(t *testing.T) {
	for _, cmd := range commands {
		t.Run(cmd.name, func(t *testing.T) {
			args := append(strings.Fields(cmd.name), "--help")
			code, out, errOut := pipechaos(t, args...)
			if code != exitOK || !strings.HasPrefix(out, "Usage: pipechaos "+cmd.name) || errOut != "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
		})
	}
	code, out, _ := pipechaos(t, "help")
	if code != exitOK || !strings.Contains(out, "skew profile") || !strings.Contains(out, "schema check") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	if code, out, _ := pipechaos(t, "help", "run"); code != exitOK || !strings.HasPrefix(out, "Usage: pipechaos run") {
		t.Errorf("help run: exit %d\n%s", code, out)
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	useCatalogue(t, story)
	conn := filepath.Join(t.TempDir(), "sink.json")
	if err := os.WriteFile(conn, []byte(`{"name":"s3","config":{"connector.class":"com.example.S3Sink"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Usage: pipechaos"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"schema"}, `missing subcommand: use "schema check"`},
		{[]string{"list", "extra"}, "takes no arguments"},
		{[]string{"run", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"run"}, "needs exactly one scenario name (known: null-headers)"},
		{[]string{"run", "nope"}, `unknown scenario "nope"`},
		{[]string{"run", "null-headers", "--variant", "weird"}, `unknown variant "weird"`},
		{[]string{"run", "null-headers", "--seed", "x1"}, `--seed "x1" is not an integer`},
		{[]string{"run", "null-headers", "--backend", "k8s"}, `--backend "k8s": use embedded or containers`},
		{[]string{"run", "null-headers", "--connect-plugin", "/tmp"}, "--connect-plugin and --connector-config go together"},
		{[]string{"run", "null-headers", "--connect-plugin", "/tmp", "--connector-config", conn, "--sink-cmd", "x"}, "both name the sink under test: give one"},
		{[]string{"run", "null-headers", "--connect-plugin", "/no/such/dir", "--connector-config", conn}, "plugin directory /no/such/dir: not a directory"},
		{[]string{"run", "null-headers", "--connect-plugin", "/tmp", "--connector-config", "/no/such.json"}, "/no/such.json"},
		{[]string{"explain"}, "needs exactly one scenario name"},
		{[]string{"explain", "nope"}, `unknown scenario "nope"`},
		{[]string{"up", "--topics", "events:0"}, "partitions of events must be a positive integer"},
		{[]string{"up", "--brokers", "0"}, "--brokers must be at least 1"},
		{[]string{"up", "--env-file", "/no/such/dir/env"}, "its directory does not exist"},
		{[]string{"report", "--out", "x"}, "name at least one history.json"},
		{[]string{"report", "--out", t.TempDir(), "/no/such/history.json"}, "no such file"},
		{[]string{"schema", "check"}, "--registry is required"},
		{[]string{"schema", "check", "--registry", "localhost:8081", "--subject", "s", "--schema", "x"}, "is not an http(s) URL"},
		{[]string{"schema", "check", "--registry", "http://127.0.0.1:1", "--subject", "s", "--schema", "/no/such.avsc"}, "schema file /no/such.avsc does not exist"},
		{[]string{"schema", "check", "--registry", "http://127.0.0.1:1", "--subject", "s", "--schema", "x", "--type", "xml"}, `--type "xml"`},
		{[]string{"skew", "profile", "--topic", "t"}, "--brokers is required"},
		{[]string{"skew", "profile", "--brokers", "127.0.0.1:1", "--topic", "t", "--sample", "0"}, "--sample must be at least 1"},
		{[]string{"skew", "profile", "--brokers", "127.0.0.1:1", "--topic", "t", "--threshold", "abc"}, `invalid value "abc" for flag -threshold`},
		{[]string{"skew", "profile", "--brokers", "127.0.0.1:1", "--topic", "t", "--max-key-share", "1.5"}, "--max-key-share must be in (0,1]"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := pipechaos(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d (stdout %q)", code, exitUsage, out)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q does not say %q", errOut, tt.want)
			}
			if tt.args != nil && strings.Count(errOut, "\n") != 1 {
				t.Errorf("want a one-line error, got %q", errOut)
			}
		})
	}
}

// TestEveryCommandRejectsABadFlag: every subcommand answers an unknown
// flag with one line on stderr and the usage exit code.
func TestEveryCommandRejectsABadFlag(t *testing.T) {
	useCatalogue(t, story)
	for _, cmd := range commands {
		t.Run(cmd.name, func(t *testing.T) {
			code, out, errOut := pipechaos(t, append(strings.Fields(cmd.name), "--bogus")...)
			want := "pipechaos " + cmd.name + ": flag provided but not defined: -bogus (see pipechaos " + cmd.name + " --help)\n"
			if code != exitUsage || errOut != want || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, exitUsage, want)
			}
		})
	}
}

func TestListAndExplain(t *testing.T) {
	useCatalogue(t, story)
	code, out, _ := pipechaos(t, "list")
	if code != exitOK || !strings.Contains(out, "null-headers") || !strings.Contains(out, "a null header kills the filter") {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	code, out, _ = pipechaos(t, "explain", "null-headers")
	for _, want := range []string{"Incident 1 of docs/incidents.md", "The incident", story.Story, "The fault", story.Fault, "What is checked", story.Checks, "pipechaos run null-headers"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain does not say %q:\n%s", want, out)
		}
	}
	if code != exitOK {
		t.Errorf("explain: exit %d", code)
	}
	useCatalogue(t)
	if code, out, _ := pipechaos(t, "list"); code != exitOK || !strings.Contains(out, "empty") {
		t.Errorf("empty list: exit %d\n%s", code, out)
	}
}
