package reports

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("reports").Funcs(template.FuncMap{
	"f":       func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"add":     func(a, b float64) float64 { return a + b },
	"sub":     func(a, b float64) float64 { return a - b },
	"deref":   func(p *float64) float64 { return *p },
	"seconds": func(s float64) string { return fmt.Sprintf("%.2fs", s) },
	"duration": func(s float64) string {
		return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
	},
	"bytes":      func(n int64) string { return formatBytes(float64(n)) },
	"bytesf":     func(n float64) string { return formatBytes(n) },
	"statusText": statusText,
	"ids": func(ids []uint64) string {
		parts := make([]string, len(ids))
		for i, id := range ids {
			parts[i] = fmt.Sprint(id)
		}
		return strings.Join(parts, ", ")
	},
}).ParseFS(templateFS, "templates/*.tmpl"))

func statusText(s Status) string {
	switch s {
	case Passed:
		return "passed"
	case BugReproduced:
		return "bug reproduced"
	case Skipped:
		return "skipped"
	case Errored:
		return "could not run"
	case Inconclusive:
		return "inconclusive"
	}
	return string(s)
}

// HTML writes the self-contained page of a report.
func HTML(w io.Writer, r Report) error {
	return templates.ExecuteTemplate(w, "report", struct {
		R     Report
		Chart chart
	}{r, buildChart(r)})
}

// IndexRow is one run in the index.
type IndexRow struct {
	Scenario       string  `json:"scenario"`
	Title          string  `json:"title,omitempty"`
	Variant        string  `json:"variant"`
	Status         Status  `json:"status"`
	Expected       bool    `json:"expected"`
	Verdict        string  `json:"verdict"`
	Acked          int     `json:"acked"`
	Lost           int     `json:"lost"`
	Duplicated     int     `json:"duplicated"`
	Faults         int     `json:"faults"`
	StoreRequests  int64   `json:"store_requests"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	Seed           int64   `json:"seed"`
	Replay         string  `json:"replay"`
	Message        string  `json:"message"`
	Link           string  `json:"link"` // relative path of the run's report.html
}

// Index is index.json: one row per run.
type Index struct {
	Schema      string     `json:"schema"` // "pipechaos.index/v1"
	Generated   time.Time  `json:"generated"`
	AllExpected bool       `json:"all_expected"`
	Summary     string     `json:"summary"`
	Rows        []IndexRow `json:"rows"`
}

func indexRow(r Report) IndexRow {
	row := IndexRow{
		Scenario: r.Scenario, Title: r.Title, Variant: r.Variant, Status: r.Status, Expected: r.Expected,
		Faults: len(r.Faults), StoreRequests: r.Cost.StoreRequests, ElapsedSeconds: r.ElapsedSeconds,
		Seed: r.Seed, Replay: r.Replay, Link: RunDir(r.Scenario, r.Variant) + "/report.html",
	}
	row.Message = r.Failure + r.Skipped + r.Error
	if l := r.Ledger; l != nil {
		row.Verdict, row.Acked, row.Lost, row.Duplicated = l.Verdict, l.Acked, l.Lost, l.Duplicated
	}
	return row
}

func indexHTML(w io.Writer, ix Index) error {
	return templates.ExecuteTemplate(w, "index", struct {
		Index
		Generated string
	}{ix, ix.Generated.UTC().Format("2006-01-02 15:04:05 UTC")})
}
