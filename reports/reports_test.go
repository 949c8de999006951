package reports

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/history"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Recorded runs in testdata (see testdata/README.md): the history.json of
// real scenario runs on the embedded backend, gzipped.
const (
	crashFixed  = "broker-crash-fixed.json.gz" // a broker crash and restart; the fixed sink loses nothing
	storeBuggy  = "store-outage-buggy.json.gz" // 503, 500, then hanging PUTs; commit-before-write loses 394 records
	headerBuggy = "null-headers-buggy.json.gz" // a null header kills the buggy filter; nothing reaches the bucket
)

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

// recording is what a recorded run must come to, written out by hand from
// the run's own output (its narrative and verdict), so that a change to the
// report code that misreads a real history fails here.
type recording struct {
	file       string
	status     Status
	replay     string
	ledger     Ledger   // CorruptObjects aside
	faults     []string // "fault target start-heal", seconds since the run started
	violations []string // "source kind ×count", in the report's order
	firstLost  []uint64
	cost       Cost // store requests and 5xx, retries, objects and records written
	panels     []string
	legends    []string // series names the page must show
}

var recordings = []recording{{
	file:    crashFixed,
	status:  Passed,
	replay:  "PIPECHAOS_SEED=5389459531175590 pipechaos run broker-crash --variant fixed --backend embedded",
	ledger:  Ledger{Verdict: "ok", Attempted: 4000, Acked: 4000, FoundRecords: 4000, FoundUnique: 4000, Objects: 39},
	faults:  []string{"broker-crash primary/broker-1 0.338-0.729"},
	cost:    Cost{StoreRequests: 80, ObjectsWritten: 39, RecordsWritten: 4000},
	panels:  []string{PanelThroughput, PanelLag, PanelFreshness, PanelBuffered, PanelStore},
	legends: []string{"total", "partition orders/0", "partition orders/5", "s3sink", "store requests/s", "store errors 5xx/s"},
}, {
	file:       storeBuggy,
	status:     BugReproduced,
	replay:     "PIPECHAOS_SEED=4034798028785458 pipechaos run store-outage --variant buggy --backend embedded",
	ledger:     Ledger{Verdict: "illegal", Attempted: 3000, Acked: 3000, FoundRecords: 2606, FoundUnique: 2606, Objects: 16, Lost: 394},
	faults:     []string{"store-fault store 0.300-1.000", "store-fault store 1.000-1.501", "store-fault store 1.501-1.802"},
	violations: []string{"checker lost ×394"},
	firstLost:  []uint64{406, 407, 409, 410, 411, 412, 413, 414, 415, 416},
	cost:       Cost{StoreRequests: 54, StoreErrors5xx: 20, Retries: 16, ObjectsWritten: 16, RecordsWritten: 2606},
	panels:     []string{PanelThroughput, PanelLag, PanelFreshness, PanelBuffered, PanelStore},
	// The 5xx line after the requests line: drawn over it where they are equal.
	legends: []string{"partition 0", "partition 1", "partition 2", "partition 3", "s3sink", "store requests/s", "store errors 5xx/s"},
}, {
	file:   headerBuggy,
	status: BugReproduced,
	replay: "PIPECHAOS_SEED=2601555737401403 pipechaos run null-headers --variant buggy --backend embedded",
	ledger: Ledger{Verdict: "illegal", Attempted: 600, Acked: 600, Lost: 600},
	violations: []string{"checker empty ×1", "checker lost ×600",
		"scenario scenario ×0", "scenario scenario ×0", "scenario scenario ×0"},
	firstLost: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
	// The stopped sink: no store request, no object; the lag it left is
	// the scenario's own committed_lag sample.
	panels:  []string{PanelThroughput, PanelLag, PanelFreshness},
	legends: []string{"committed lag audit"},
}}

// historySpans reads the fault spans from a history, independently of
// Build: a heal closes the oldest open start of the same fault and target.
func historySpans(o harness.Outcome) []string {
	type open struct {
		key string
		at  time.Time
	}
	var opens []open
	var out []string
	secs := func(t time.Time) string { return fmt.Sprintf("%.3f", t.Sub(o.Started).Seconds()) }
	for _, e := range o.Events {
		if e.Type != history.Fault {
			continue
		}
		key := e.Fault + " " + e.Target
		switch e.Phase {
		case history.Start:
			opens = append(opens, open{key, e.At})
		case history.Heal:
			i := slices.IndexFunc(opens, func(op open) bool { return op.key == key })
			if i >= 0 {
				out = append(out, key+" "+secs(opens[i].at)+"-"+secs(e.At))
				opens = slices.Delete(opens, i, i+1)
			}
		}
	}
	for _, op := range opens {
		out = append(out, op.key+" "+secs(op.at)+"-never")
	}
	return out
}

func reportSpans(r Report) []string {
	out := []string{}
	for _, f := range r.Faults {
		heal := "never"
		if f.HealSeconds != nil {
			heal = fmt.Sprintf("%.3f", *f.HealSeconds)
		}
		out = append(out, fmt.Sprintf("%s %s %.3f-%s", f.Fault, f.Target, f.StartSeconds, heal))
	}
	return out
}

// TestReportFromRecordedRuns builds the report of each recorded run and
// checks it against what the run recorded: the fault spans, the ledger, the
// violations, the replay command, the cost and the timeline; then the
// files WriteOutcome writes (JSON, HTML) say the same.
func TestReportFromRecordedRuns(t *testing.T) {
	for _, want := range recordings {
		t.Run(strings.TrimSuffix(want.file, ".json.gz"), func(t *testing.T) {
			o := recorded(t, want.file)
			r := Build(o, nil)

			if r.Status != want.status || !r.Expected || r.Replay != want.replay || r.Seed != o.Seed {
				t.Errorf("status %q expected %v replay %q seed %d; want %q, expected, %q", r.Status, r.Expected, r.Replay, r.Seed, want.status, want.replay)
			}
			if want.status == BugReproduced && !strings.HasPrefix(r.Failure, harness.BugPrefix) {
				t.Errorf("failure %q: want %q…", r.Failure, harness.BugPrefix)
			}
			if want.ledger.Lost > 0 && !strings.Contains(r.Failure, fmt.Sprintf("%d acked records never reached the bucket", want.ledger.Lost)) {
				t.Errorf("failure %q does not carry the %d lost records", r.Failure, want.ledger.Lost)
			}

			// Fault spans: as recorded, and as the history's fault events pair up.
			if got := reportSpans(r); !slices.Equal(got, want.faults) && !(len(got) == 0 && len(want.faults) == 0) {
				t.Errorf("fault spans %q, want %q", got, want.faults)
			}
			if got, hist := reportSpans(r), historySpans(o); !slices.Equal(got, hist) && !(len(got) == 0 && len(hist) == 0) {
				t.Errorf("fault spans %q, but the history's fault events pair up as %q", got, hist)
			}

			// Ledger: as recorded, and consistent with the produce events.
			l := r.Ledger
			if l == nil {
				t.Fatal("no ledger")
			}
			got := *l
			if len(got.CorruptObjects) != 0 {
				t.Errorf("corrupt objects %q: the recorded runs wrote none", got.CorruptObjects)
			}
			got.CorruptObjects = nil
			if !reflect.DeepEqual(got, want.ledger) {
				t.Errorf("ledger\n got %+v\nwant %+v", got, want.ledger)
			}
			produced, acked, objects, records := 0, 0, 0, 0
			for _, e := range o.Events {
				switch e.Type {
				case history.Produce:
					produced++
					if e.Outcome == history.Acked {
						acked++
					}
				case history.SinkWrite:
					objects++
					records += e.Records
				}
			}
			if produced != l.Attempted || acked != l.Acked || r.Events.Produce != produced {
				t.Errorf("the history holds %d produce events (%d acked), the report counts %d; the ledger says attempted %d, acked %d",
					produced, acked, r.Events.Produce, l.Attempted, l.Acked)
			}

			// Violations: the checker's first, then the scenario's, as recorded.
			var vs []string
			for _, v := range r.Violations {
				vs = append(vs, fmt.Sprintf("%s %s ×%d", v.Source, v.Kind, v.Count))
			}
			if !slices.Equal(vs, want.violations) {
				t.Errorf("violations %q, want %q", vs, want.violations)
			}
			var details []string
			for _, v := range o.Check.Violations {
				details = append(details, v.Detail)
			}
			details = append(details, o.Violations...)
			for i, v := range r.Violations {
				if i < len(details) && v.Detail != details[i] {
					t.Errorf("violation %d: detail %q, recorded %q", i, v.Detail, details[i])
				}
				if v.Kind == "lost" && !slices.Equal(v.FirstIDs, want.firstLost) {
					t.Errorf("first lost IDs %v, want %v", v.FirstIDs, want.firstLost)
				}
			}

			// Cost: the store's counters and the sink's writes.
			c := r.Cost
			if c.StoreRequests != want.cost.StoreRequests || c.StoreErrors5xx != want.cost.StoreErrors5xx || c.Retries != want.cost.Retries ||
				c.ObjectsWritten != want.cost.ObjectsWritten || c.RecordsWritten != want.cost.RecordsWritten {
				t.Errorf("cost %+v, want store requests %d, 5xx %d, retries %d, objects %d, records %d", c,
					want.cost.StoreRequests, want.cost.StoreErrors5xx, want.cost.Retries, want.cost.ObjectsWritten, want.cost.RecordsWritten)
			}
			if c.ObjectsWritten != objects || c.RecordsWritten != records {
				t.Errorf("cost counts %d objects, %d records; the history's sink writes are %d, %d", c.ObjectsWritten, c.RecordsWritten, objects, records)
			}

			// Timeline: the panels the run's samples fill, every series drawn.
			var panels, legends []string
			for _, s := range r.Timeline.Series {
				if !slices.Contains(panels, s.Panel) {
					panels = append(panels, s.Panel)
				}
				legends = append(legends, s.Name)
				if len(s.Points) == 0 {
					t.Errorf("series %s/%s has no points", s.Panel, s.Name)
				}
			}
			if !slices.Equal(panels, want.panels) {
				t.Errorf("timeline panels %v, want %v", panels, want.panels)
			}
			if !subsequence(want.legends, legends) {
				t.Errorf("series %q: want %q among them, in that order", legends, want.legends)
			}
			if len(r.Narrative) == 0 || !strings.Contains(r.Narrative[0].Text, fmt.Sprintf("seed %d", o.Seed)) {
				t.Errorf("the narrative does not open with the run's seed: %+v", r.Narrative[:min(1, len(r.Narrative))])
			}

			// The files say the same.
			dir := t.TempDir()
			if err := WriteOutcome(dir, o); err != nil {
				t.Fatal(err)
			}
			runDir := filepath.Join(dir, RunDir(o.Scenario, string(o.Variant)))
			var back Report
			if err := json.Unmarshal(read(t, filepath.Join(runDir, "report.json")), &back); err != nil {
				t.Fatal(err)
			}
			if back.Replay != want.replay || !reflect.DeepEqual(back.Ledger, l) || !slices.Equal(reportSpans(back), reportSpans(r)) || len(back.Violations) != len(r.Violations) {
				t.Errorf("report.json does not carry the report: replay %q ledger %+v faults %q", back.Replay, back.Ledger, reportSpans(back))
			}
			page := string(read(t, filepath.Join(runDir, "report.html")))
			wantHTML := []string{
				`<svg class="timeline"`,
				"seed " + strconv.FormatInt(o.Seed, 10),
				"<pre><code>" + esc(want.replay) + "</code></pre>",
				fmt.Sprintf(`<div class="v">%d</div><div class="k">attempted</div>`, l.Attempted),
				fmt.Sprintf(`<div class="v">%d</div><div class="k">acked</div>`, l.Acked),
				fmt.Sprintf(`<div class="v">%d</div><div class="k">lost</div>`, l.Lost),
				`id="cost"`,
			}
			if len(r.Violations) > 0 {
				wantHTML = append(wantHTML, `id="violations"`)
			}
			for _, f := range r.Faults {
				wantHTML = append(wantHTML, `class="flabel"`, esc(f.Fault+" · "+f.Target), "<td>"+esc(f.Text)+"</td>")
			}
			if len(r.Faults) > 0 {
				wantHTML = append(wantHTML, `fill-opacity="0.13"`) // the shaded span
			} else {
				wantHTML = append(wantHTML, "No fault was injected.")
			}
			for _, v := range r.Violations {
				wantHTML = append(wantHTML, esc(v.Detail))
			}
			if r.Failure != "" {
				wantHTML = append(wantHTML, esc(r.Failure))
			}
			for _, name := range want.legends {
				wantHTML = append(wantHTML, esc(name))
			}
			for _, p := range want.panels {
				wantHTML = append(wantHTML, esc(panelTitles[p]))
			}
			for _, w := range wantHTML {
				if !strings.Contains(page, w) {
					t.Errorf("report.html does not contain %q", w)
				}
			}
			noFetches(t, "report.html", page)

			back2, err := ReadRecorded(filepath.Join(runDir, "history.json"))
			if err != nil {
				t.Fatal(err)
			}
			if len(back2.Events) != len(o.Events) || back2.Failure != o.Failure || back2.Check.Lost != o.Check.Lost || back2.Seed != o.Seed {
				t.Errorf("history.json does not read back the run: %d events, failure %q", len(back2.Events), back2.Failure)
			}
		})
	}
}

// TestIndexOfRecordedRuns writes the index of every recorded run: one
// JUnit suite per scenario, every run as expected, each page linked.
func TestIndexOfRecordedRuns(t *testing.T) {
	var outs []harness.Outcome
	for _, rec := range recordings {
		outs = append(outs, recorded(t, rec.file))
	}
	dir := t.TempDir()
	for _, o := range outs {
		if err := WriteOutcome(dir, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteIndex(dir, outs); err != nil {
		t.Fatal(err)
	}

	one := parseJUnit(t, filepath.Join(dir, "store-outage-buggy", "junit.xml"))
	if one.Tests != 1 || len(one.Suites) != 1 || len(one.Suites[0].Cases) != 1 {
		t.Fatalf("a run's junit.xml has %d tests: want exactly one testcase", one.Tests)
	}
	all := parseJUnit(t, filepath.Join(dir, "junit.xml"))
	var suites, cases []string
	for _, s := range all.Suites {
		suites = append(suites, s.Name)
		if s.Failures != 0 || s.Errors != 0 {
			t.Errorf("%s: %d failures, %d errors; every recorded run came out as expected", s.Name, s.Failures, s.Errors)
		}
		for _, c := range s.Cases {
			cases = append(cases, c.Name)
			if c.Failure != nil || c.Error != nil {
				t.Errorf("%s: want no failure, got %+v", c.Name, c.Failure)
			}
		}
	}
	if want := []string{"pipechaos/broker-crash", "pipechaos/store-outage", "pipechaos/null-headers"}; !slices.Equal(suites, want) {
		t.Errorf("suites %v, want %v", suites, want)
	}
	if want := []string{"broker-crash/fixed", "store-outage/buggy", "null-headers/buggy"}; !slices.Equal(cases, want) || all.Tests != 3 {
		t.Errorf("testcases %v (tests=%d), want %v", cases, all.Tests, want)
	}
	caught := all.Suites[1].Cases[0].SystemOut
	for _, w := range []string{outs[1].Failure, "lost=394", "replay: " + recordings[1].replay} {
		if !strings.Contains(caught, w) {
			t.Errorf("the caught bug's testcase does not carry %q in system-out: %q", w, caught)
		}
	}

	index := string(read(t, filepath.Join(dir, "index.html")))
	for _, link := range []string{"broker-crash-fixed/report.html", "store-outage-buggy/report.html", "null-headers-buggy/report.html"} {
		if !strings.Contains(index, `href="`+link+`"`) {
			t.Errorf("index.html does not link %s", link)
		}
		if _, err := os.Stat(filepath.Join(dir, link)); err != nil {
			t.Errorf("index links %s: %v", link, err)
		}
	}
	if !strings.Contains(index, "3 of 3 runs as expected") {
		t.Error("index.html does not summarise the runs")
	}
	noFetches(t, "index.html", index)
}

// subsequence reports whether every element of sub is in s, in order.
func subsequence(sub, s []string) bool {
	i := 0
	for _, x := range s {
		if i < len(sub) && x == sub[i] {
			i++
		}
	}
	return i == len(sub)
}

// esc escapes text as html/template does in an element's text ('+' too).
func esc(s string) string { return strings.ReplaceAll(html.EscapeString(s), "+", "&#43;") }

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
	buggy := recorded(t, storeBuggy)
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
		t.Fatalf("want 3 store-outage testcases, got %d", len(cases))
	}
	if f := cases[0].Failure; f == nil || f.Message != buggy.Failure || !strings.Contains(f.Body, "lost=394") {
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
