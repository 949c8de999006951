package reports

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/history"
)

// Writer writes reports. The zero value is ready to use.
type Writer struct {
	// Describe, if set, returns the scenario an outcome ran (for its
	// story, fault and checks); nil or a nil result leaves them out.
	Describe func(name string) *harness.Scenario
	// Now stamps the index; default time.Now.
	Now func() time.Time
}

// WriteOutcome writes one run's report.json, report.html, junit.xml and
// history.json into dir/<scenario>-<variant>/ (see RunDir).
func WriteOutcome(dir string, o harness.Outcome) error { return Writer{}.WriteOutcome(dir, o) }

// WriteIndex writes index.html, index.json and junit.xml for several runs
// into dir. Each run's own report is expected in its RunDir (WriteOutcome).
func WriteIndex(dir string, outcomes []harness.Outcome) error {
	return Writer{}.WriteIndex(dir, outcomes)
}

// RunDir is the directory, relative to a report dir, of one run's files.
func RunDir(scenario, variant string) string {
	return safeName(scenario) + "-" + safeName(variant)
}

// Report builds the report of o.
func (w Writer) Report(o harness.Outcome) Report {
	var s *harness.Scenario
	if w.Describe != nil {
		s = w.Describe(o.Scenario)
	}
	return Build(o, s)
}

// WriteOutcome: see the package function.
func (w Writer) WriteOutcome(dir string, o harness.Outcome) error {
	if o.Scenario == "" {
		return errors.New("write report: the outcome has no scenario name")
	}
	r := w.Report(o)
	runDir := filepath.Join(dir, RunDir(o.Scenario, string(o.Variant)))
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	var page bytes.Buffer
	if err := HTML(&page, r); err != nil {
		return fmt.Errorf("render report.html: %w", err)
	}
	suites := junitSuites([]Report{r})
	var xmlBuf bytes.Buffer
	if err := suites.WriteXML(&xmlBuf); err != nil {
		return fmt.Errorf("render junit.xml: %w", err)
	}
	reportJSON, err := marshal(r)
	if err != nil {
		return fmt.Errorf("render report.json: %w", err)
	}
	var hist bytes.Buffer
	if err := WriteRecorded(&hist, o); err != nil {
		return fmt.Errorf("render history.json: %w", err)
	}
	return writeFiles(runDir, map[string][]byte{
		"report.html":  page.Bytes(),
		"report.json":  reportJSON,
		"junit.xml":    xmlBuf.Bytes(),
		"history.json": hist.Bytes(),
	})
}

// WriteIndex: see the package function.
func (w Writer) WriteIndex(dir string, outcomes []harness.Outcome) error {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ix := Index{Schema: "pipechaos.index/v1", Generated: now(), AllExpected: true, Rows: []IndexRow{}}
	var reports []Report
	expected := 0
	for _, o := range outcomes {
		r := w.Report(o)
		reports = append(reports, r)
		ix.Rows = append(ix.Rows, indexRow(r))
		if r.Expected {
			expected++
		} else {
			ix.AllExpected = false
		}
	}
	ix.Summary = fmt.Sprintf("%d of %d runs as expected", expected, len(outcomes))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	var page, xmlBuf bytes.Buffer
	if err := indexHTML(&page, ix); err != nil {
		return fmt.Errorf("render index.html: %w", err)
	}
	suites := junitSuites(reports)
	if err := suites.WriteXML(&xmlBuf); err != nil {
		return fmt.Errorf("render junit.xml: %w", err)
	}
	ixJSON, err := marshal(ix)
	if err != nil {
		return fmt.Errorf("render index.json: %w", err)
	}
	return writeFiles(dir, map[string][]byte{"index.html": page.Bytes(), "index.json": ixJSON, "junit.xml": xmlBuf.Bytes()})
}

// Recorded is history.json: an Outcome with its events, which
// harness.Outcome itself leaves out of its JSON.
type Recorded struct {
	harness.Outcome
	Events []history.Event `json:"events"`
}

// WriteRecorded writes o with its events as JSON.
func WriteRecorded(w io.Writer, o harness.Outcome) error {
	enc := json.NewEncoder(w)
	return enc.Encode(Recorded{Outcome: o, Events: o.Events})
}

// maxRecorded bounds what a gzipped history.json may unpack to (a run's
// produce outcomes are downsampled, see harness.ReportProduceEvents).
const maxRecorded = 1 << 30

// ReadRecorded reads a history.json (WriteRecorded's output) back into an
// Outcome with its events. The file may be gzipped (history.json.gz, as
// recorded runs are kept in reports/testdata).
func ReadRecorded(path string) (harness.Outcome, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return harness.Outcome{}, err
	}
	return decodeRecorded(path, data)
}

// decodeRecorded decodes the bytes of a history.json named path.
func decodeRecorded(path string, data []byte) (harness.Outcome, error) {
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err == nil {
			data, err = io.ReadAll(io.LimitReader(zr, maxRecorded+1))
		}
		if err == nil && len(data) > maxRecorded {
			err = fmt.Errorf("it unpacks to more than %d MiB: not a history.json this tool wrote", maxRecorded>>20)
		}
		if err != nil {
			return harness.Outcome{}, fmt.Errorf("%s: gunzip: %w", path, err)
		}
	}
	var rec Recorded
	if err := json.Unmarshal(data, &rec); err != nil {
		return harness.Outcome{}, fmt.Errorf("%s is not a recorded outcome (history.json): %w", path, err)
	}
	if rec.Outcome.Scenario == "" {
		return harness.Outcome{}, fmt.Errorf("%s is not a recorded outcome (history.json): it names no scenario", path)
	}
	rec.Outcome.Events = rec.Events
	return rec.Outcome, nil
}

func marshal(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// writeFiles writes each file through a temporary name and a rename, so a
// reader never sees half a report.
func writeFiles(dir string, files map[string][]byte) error {
	for name, data := range files {
		tmp, err := os.CreateTemp(dir, "."+name+"-*")
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		_, werr := tmp.Write(data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", name, err)
		}
		if err := os.Chmod(tmp.Name(), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// safeName keeps a path element to letters, digits, '-', '_' and '.'.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return s
}
