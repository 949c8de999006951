package reports

import (
	"encoding/json"
	"encoding/xml"
	"html"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/history"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorded loads a recorded run from testdata.
func recorded(t *testing.T, name string) harness.Outcome {
	t.Helper()
	o, err := ReadRecorded(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Events) == 0 || o.Check == nil {
		t.Fatalf("%s: a recorded run needs events and a check", name)
	}
	return o
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// JUnit XML read back with our own types, not the writer's.
type xmlSuites struct {
	XMLName xml.Name   `xml:"testsuites"`
	Tests   int        `xml:"tests,attr"`
	Suites  []xmlSuite `xml:"testsuite"`
}

type xmlSuite struct {
	Name     string    `xml:"name,attr"`
	Tests    int       `xml:"tests,attr"`
	Failures int       `xml:"failures,attr"`
	Errors   int       `xml:"errors,attr"`
	Cases    []xmlCase `xml:"testcase"`
}

type xmlCase struct {
	Name      string     `xml:"name,attr"`
	Classname string     `xml:"classname,attr"`
	Failure   *xmlResult `xml:"failure"`
	Error     *xmlResult `xml:"error"`
	Skipped   *xmlResult `xml:"skipped"`
	SystemOut string     `xml:"system-out"`
}

type xmlResult struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

func parseJUnit(t *testing.T, path string) xmlSuites {
	t.Helper()
	var s xmlSuites
	if err := xml.Unmarshal(read(t, path), &s); err != nil {
		t.Fatalf("%s does not parse as XML: %v", path, err)
	}
	return s
}

func TestReportFromRecordedHistory(t *testing.T) {
	buggy, fixed := recorded(t, "broker-crash-buggy.json"), recorded(t, "broker-crash-fixed.json")
	dir := t.TempDir()
	for _, o := range []harness.Outcome{buggy, fixed} {
		if err := WriteOutcome(dir, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteIndex(dir, []harness.Outcome{buggy, fixed}); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "broker-crash-buggy")

	t.Run("json", func(t *testing.T) {
		var raw map[string]any
		if err := json.Unmarshal(read(t, filepath.Join(runDir, "report.json")), &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"schema", "scenario", "variant", "backend", "seed", "replay", "started",
			"elapsed_seconds", "status", "expected", "failure", "skipped", "error", "ledger", "violations",
			"faults", "cost", "metrics", "events", "timeline", "narrative"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("report.json has no %q", k)
			}
		}
		var r Report
		if err := json.Unmarshal(read(t, filepath.Join(runDir, "report.json")), &r); err != nil {
			t.Fatal(err)
		}
		if r.Schema != SchemaVersion || r.Scenario != "broker-crash" || r.Variant != "buggy" || r.Seed != buggy.Seed {
			t.Errorf("identity: schema %q scenario %q variant %q seed %d", r.Schema, r.Scenario, r.Variant, r.Seed)
		}
		if r.Status != BugReproduced || !r.Expected || !strings.HasPrefix(r.Failure, harness.BugPrefix) {
			t.Errorf("status %q expected %v failure %q: want a reproduced bug, as expected", r.Status, r.Expected, r.Failure)
		}
		if r.Replay != buggy.Replay() {
			t.Errorf("replay %q, want %q", r.Replay, buggy.Replay())
		}
		c := buggy.Check
		if l := r.Ledger; l == nil || l.Attempted != c.Attempted || l.Acked != c.Acked || l.Lost != c.Lost || l.Lost == 0 || l.Verdict != "illegal" {
			t.Errorf("ledger %+v does not match the check %+v", r.Ledger, c)
		}
		if len(r.Violations) == 0 || r.Violations[0].Kind != "lost" || r.Violations[0].Count != c.Lost || r.Violations[0].Source != "checker" {
			t.Errorf("violations %+v: want the lost records first", r.Violations)
		}
		if len(r.Faults) != 1 || r.Faults[0].Fault != "broker-crash" || r.Faults[0].Target != "primary/1" ||
			r.Faults[0].HealSeconds == nil || *r.Faults[0].HealSeconds <= r.Faults[0].StartSeconds {
			t.Errorf("faults %+v: want one healed broker-crash on primary/1", r.Faults)
		}
		if r.Cost.StoreRequests == 0 || r.Cost.StoreBytesIn == 0 || r.Cost.ObjectsWritten == 0 || r.Cost.Retries == 0 {
			t.Errorf("cost %+v: want store requests, bytes, objects and retries", r.Cost)
		}
		var panels []string
		for _, s := range r.Timeline.Series {
			if !slices.Contains(panels, s.Panel) {
				panels = append(panels, s.Panel)
			}
			if len(s.Points) == 0 {
				t.Errorf("series %s/%s has no points", s.Panel, s.Name)
			}
		}
		if want := []string{PanelThroughput, PanelLag, PanelFreshness, PanelBuffered, PanelStore}; !slices.Equal(panels, want) {
			t.Errorf("timeline panels %v, want %v", panels, want)
		}
		if r.Events.Total != len(buggy.Events) || r.Events.Produce != c.Attempted {
			t.Errorf("event counts %+v, want %d events, %d produce", r.Events, len(buggy.Events), c.Attempted)
		}
		if len(r.Narrative) == 0 {
			t.Error("no narrative")
		}
	})

	t.Run("junit", func(t *testing.T) {
		one := parseJUnit(t, filepath.Join(runDir, "junit.xml"))
		if one.Tests != 1 || len(one.Suites) != 1 || len(one.Suites[0].Cases) != 1 {
			t.Fatalf("a run's junit.xml has %d tests: want exactly one testcase", one.Tests)
		}
		all := parseJUnit(t, filepath.Join(dir, "junit.xml"))
		if len(all.Suites) != 1 || all.Suites[0].Name != "pipechaos/broker-crash" {
			t.Fatalf("index junit.xml: want one suite for broker-crash, got %+v", all.Suites)
		}
		s := all.Suites[0]
		var names []string
		for _, c := range s.Cases {
			names = append(names, c.Name)
			if c.Failure != nil || c.Error != nil {
				t.Errorf("%s: both runs came out as expected, want no failure; got %+v", c.Name, c.Failure)
			}
		}
		if !slices.Equal(names, []string{"broker-crash/buggy", "broker-crash/fixed"}) || s.Tests != 2 || s.Failures != 0 {
			t.Errorf("testcases %v (tests=%d failures=%d), want buggy and fixed passing", names, s.Tests, s.Failures)
		}
		if !strings.Contains(s.Cases[0].SystemOut, buggy.Failure) {
			t.Errorf("the caught bug's testcase does not carry the checker's message in system-out: %q", s.Cases[0].SystemOut)
		}
	})

	t.Run("html", func(t *testing.T) {
		page := string(read(t, filepath.Join(runDir, "report.html")))
		for _, want := range []string{
			`<svg class="timeline"`,
			"Throughput (records/s)", "Consumer lag per partition", "Freshness", "buffered bytes", "Object-store requests",
			"partition events/1",                         // per-partition lag legend
			`class="flabel"`, "broker-crash · primary/1", // the fault span's label
			`fill-opacity="0.13"`,             // the shaded span
			html.EscapeString(buggy.Replay()), // the replay command
			"seed 5389459531175590",
			`<div class="v">495</div><div class="k">attempted</div>`,
			`<div class="v">469</div><div class="k">acked</div>`,
			`<div class="v">41</div><div class="k">lost</div>`,
			html.EscapeString(buggy.Failure),
			`id="violations"`, `id="cost"`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("report.html does not contain %q", want)
			}
		}
		noFetches(t, "report.html", page)
		index := string(read(t, filepath.Join(dir, "index.html")))
		for _, link := range []string{"broker-crash-buggy/report.html", "broker-crash-fixed/report.html"} {
			if !strings.Contains(index, `href="`+link+`"`) {
				t.Errorf("index.html does not link %s", link)
			}
			if _, err := os.Stat(filepath.Join(dir, link)); err != nil {
				t.Errorf("index links %s: %v", link, err)
			}
		}
		if !strings.Contains(index, "2 of 2 runs as expected") {
			t.Error("index.html does not summarise the runs")
		}
		noFetches(t, "index.html", index)
	})

	t.Run("history round trip", func(t *testing.T) {
		back, err := ReadRecorded(filepath.Join(runDir, "history.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(back.Events) != len(buggy.Events) || back.Failure != buggy.Failure || back.Check.Lost != buggy.Check.Lost {
			t.Errorf("history.json does not read back the run: %d events, failure %q", len(back.Events), back.Failure)
		}
	})
}

// noFetches fails if the page would load anything from the network.
func noFetches(t *testing.T, name, page string) {
	t.Helper()
	for _, bad := range []string{"http://", "https://", "<script", "<link", "@import", "url(", "src="} {
		if strings.Contains(page, bad) {
			t.Errorf("%s contains %q: the page must be self-contained", name, bad)
		}
	}
}

func TestJUnitUnexpectedOutcomes(t *testing.T) {
	buggy := recorded(t, "broker-crash-buggy.json")
	fixedLost := buggy
	fixedLost.Variant = harness.Fixed
	notCaught := buggy
	notCaught.Failure, notCaught.Check = "", nil
	skipped := buggy
	skipped.Failure, skipped.Skipped = "", "fault not supported by this backend: pause"
	broken := buggy
	broken.Variant, broken.Failure, broken.Error = harness.Fixed, "", "start region primary: address in use"
	broken.Scenario = "other"

	dir := t.TempDir()
	if err := WriteIndex(dir, []harness.Outcome{fixedLost, notCaught, skipped, broken}); err != nil {
		t.Fatal(err)
	}
	s := parseJUnit(t, filepath.Join(dir, "junit.xml"))
	if len(s.Suites) != 2 {
		t.Fatalf("want a suite per scenario, got %d", len(s.Suites))
	}
	cases := s.Suites[0].Cases
	if len(cases) != 3 {
		t.Fatalf("want 3 broker-crash testcases, got %d", len(cases))
	}
	if f := cases[0].Failure; f == nil || f.Message != buggy.Failure || !strings.Contains(f.Body, "lost=41") {
		t.Errorf("fixed connector losing data: want a failure with the checker's message, got %+v", f)
	}
	if f := cases[1].Failure; f == nil || !strings.Contains(f.Message, "not caught") {
		t.Errorf("buggy connector not caught: want a failure saying so, got %+v", f)
	}
	if sk := cases[2].Skipped; sk == nil || sk.Message != skipped.Skipped || cases[2].Failure != nil {
		t.Errorf("skipped run: want <skipped> with the reason, got %+v", cases[2])
	}
	if e := s.Suites[1].Cases[0].Error; e == nil || e.Message != broken.Error {
		t.Errorf("broken run: want <error> with the reason, got %+v", s.Suites[1].Cases[0])
	}
	if s.Suites[0].Failures != 2 {
		t.Errorf("suite failures=%d, want 2", s.Suites[0].Failures)
	}
	index := string(read(t, filepath.Join(dir, "index.html")))
	if !strings.Contains(index, "0 of 4 runs as expected") {
		t.Error("index.html does not say no run was as expected")
	}
}

// at builds an event at second s of a run that started at t0.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestTimelineFreshnessAndOpenFault(t *testing.T) {
	events := []history.Event{
		{At: at(1), Type: history.Produce, RecordID: 1, Outcome: history.Acked},
		{At: at(2), Type: history.Produce, RecordID: 2, Outcome: history.Acked},
		{At: at(2), Type: history.Fault, Fault: "store-outage", Phase: history.Start, Target: "store"},
		{At: at(3), Type: history.SinkWrite, Records: 1, Bytes: 100},
		{At: at(5), Type: history.SinkWrite, Records: 1, Bytes: 100},
	}
	o := harness.Outcome{Scenario: "s", Variant: harness.Fixed, Backend: "embedded", Started: t0, Elapsed: 6 * time.Second, Events: events}
	r := Build(o, &harness.Scenario{Name: "s", Title: "a story"})
	var fresh *Series
	for i, s := range r.Timeline.Series {
		if s.Panel == PanelFreshness {
			fresh = &r.Timeline.Series[i]
		}
	}
	if fresh == nil {
		t.Fatal("no freshness series")
	}
	// Age of the oldest acked record not yet written, at a few instants.
	want := map[float64]float64{0.5: 0, 1.5: 0.5, 2.5: 1.5, 4: 2, 5.5: 0}
	seen := 0
	for _, p := range fresh.Points {
		if w, ok := want[p[0]]; ok {
			seen++
			if p[1] != w {
				t.Errorf("freshness at %.1fs = %.3f, want %.3f", p[0], p[1], w)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("freshness sampled at %d of the %d instants checked", seen, len(want))
	}
	if len(r.Faults) != 1 || r.Faults[0].HealSeconds != nil || r.Faults[0].DurationSeconds != 4 {
		t.Errorf("faults %+v: want one fault that never healed, lasting to the end (4s)", r.Faults)
	}
	if r.Status != Passed || r.Ledger != nil || r.Title != "a story" {
		t.Errorf("status %q ledger %v title %q", r.Status, r.Ledger, r.Title)
	}
	var page strings.Builder
	if err := HTML(&page, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "store-outage · store (never healed)") {
		t.Error("an unhealed fault is not labelled as such")
	}
	if !strings.Contains(page.String(), "never checked the store") {
		t.Error("a run without a check does not say so")
	}
}

func TestReadRecordedErrors(t *testing.T) {
	if _, err := ReadRecorded(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing file read without error")
	}
	p := filepath.Join(t.TempDir(), "x.json")
	os.WriteFile(p, []byte(`{"events": []}`), 0o644)
	if _, err := ReadRecorded(p); err == nil || !strings.Contains(err.Error(), "names no scenario") {
		t.Errorf("a file without a scenario: err = %v", err)
	}
}
