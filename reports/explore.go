package reports

// The explore report: one self-contained page per exploration (pipechaos
// explore): the runs, the coverage matrix of faults × pipeline phases, and
// each finding with its minimal schedule drawn on the run's timeline.

import (
	"embed"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/explore"
)

//go:embed templates/explore/*.tmpl
var exploreFS embed.FS

// exploreTemplates are the scenario templates (for the shared style) and
// the explore page, with the functions it needs.
var exploreTemplates = template.Must(template.Must(templates.Clone()).Funcs(template.FuncMap{
	"add1":   func(i int) int { return i + 1 },
	"dur":    func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"vclass": verdictClass,
	"phases": func(ps []explore.Phase) string { return strings.Join(phaseNames(ps), ", ") },
}).ParseFS(exploreFS, "templates/explore/*.tmpl"))

// WriteExplore writes explore.json and explore.html for rep into dir and
// returns the HTML's path.
func WriteExplore(dir string, rep *explore.Report) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write explore report: %w", err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "explore.json"), b, 0o644); err != nil {
		return "", fmt.Errorf("write explore report: %w", err)
	}
	path := filepath.Join(dir, "explore.html")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("write explore report: %w", err)
	}
	if err := ExploreHTML(f, rep); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

type exploreCell struct {
	Fired, Met int
	Class      string
}

type exploreRow struct {
	Kind  string
	Cells []exploreCell
	Never int
	Why   string // unsupported reason
}

type exploreRun struct {
	N        int
	Seed     int64
	Verdict  string
	Class    string
	Why      string
	Steps    string
	Elapsed  string
	Finding  bool
	Fired    int
	MetCount int
}

type exploreFinding struct {
	explore.Finding
	Steps    []explore.Fired
	Timeline template.HTML
	Lost     int
	Dups     int
}

type explorePage struct {
	R         *explore.Report
	Phases    []string
	Rows      []exploreRow
	Runs      []exploreRun
	Findings  []exploreFinding
	Unhit     []explore.Point
	Hit       []explore.Point
	Elapsed   string
	Generated string
}

// ExploreHTML writes the explore report page.
func ExploreHTML(w io.Writer, rep *explore.Report) error {
	p := explorePage{R: rep, Elapsed: rep.Elapsed.Round(time.Millisecond).String(),
		Generated: time.Now().UTC().Format("2006-01-02 15:04:05 UTC")}
	cov := rep.Coverage
	for _, ph := range cov.Phases {
		p.Phases = append(p.Phases, string(ph))
	}
	for _, k := range cov.Kinds {
		row := exploreRow{Kind: string(k), Never: cov.NeverFired[k]}
		for _, ph := range cov.Phases {
			c := exploreCell{Fired: cov.Fired[k][ph], Met: cov.Met[k][ph]}
			switch {
			case c.Met > 0:
				c.Class = "hit"
			case c.Fired > 0:
				c.Class = "fired"
			}
			row.Cells = append(row.Cells, c)
		}
		p.Rows = append(p.Rows, row)
	}
	for k, why := range rep.Unsupported {
		p.Rows = append(p.Rows, exploreRow{Kind: string(k), Why: why})
	}
	for _, pt := range cov.Points() {
		if pt.Met > 0 {
			p.Hit = append(p.Hit, pt)
		} else {
			p.Unhit = append(p.Unhit, pt)
		}
	}
	finding := map[int]bool{}
	for _, f := range rep.Findings {
		finding[f.Run] = true
		ef := exploreFinding{Finding: f, Steps: f.Minimal.Steps, Timeline: timelineSVG(f.Minimal)}
		if c := f.Minimal.Check; c != nil {
			ef.Lost, ef.Dups = c.Lost, c.Duplicated
		}
		p.Findings = append(p.Findings, ef)
	}
	for i, r := range rep.Runs {
		er := exploreRun{N: i + 1, Seed: r.Schedule.Seed, Verdict: string(r.Verdict), Class: string(r.Class), Why: r.Why,
			Elapsed: r.Elapsed.Round(time.Millisecond).String(), Finding: finding[i]}
		if r.Error != "" {
			er.Verdict, er.Why = "error", r.Error
		}
		var steps []string
		for _, f := range r.Steps {
			mark := "never fired"
			if f.Fired {
				mark = "fired " + strings.Join(phaseNames(f.Phases), "+")
				er.Fired++
				if f.Met {
					er.MetCount++
					mark += ", met"
				}
			}
			steps = append(steps, fmt.Sprintf("%s [%s]", f.Step.Fault, mark))
		}
		er.Steps = strings.Join(steps, "; ")
		p.Runs = append(p.Runs, er)
	}
	return exploreTemplates.ExecuteTemplate(w, "explore", p)
}

func phaseNames(ps []explore.Phase) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

var stepColors = []string{"#dc2626", "#7c3aed", "#d97706", "#0891b2"}

// timelineSVG draws a run: acked records over time, every PUT the store
// saw (one lane per partition; green 2xx, red an error, grey never
// answered), the group's commits, and each fired step of the schedule as a
// shaded span with its label.
func timelineSVG(r explore.Result) template.HTML {
	const (
		W, left, right = 1000.0, 70.0, 20.0
		ackH, laneH    = 120.0, 12.0
	)
	labels := 0
	for _, f := range r.Steps {
		if f.Fired {
			labels++
		}
	}
	ackTop := 30.0 + 13*float64(max(labels-1, 0))
	putTop := ackTop + ackH + 35
	tl := r.Timeline
	end := tl.End
	if end <= 0 {
		end = time.Second
	}
	lanes := int(r.Schedule.Workload.Partitions)
	if lanes < 1 {
		lanes = 1
	}
	commitY := putTop + float64(lanes)*laneH + 14
	H := commitY + 40
	x := func(d time.Duration) float64 { return left + (W-left-right)*float64(d)/float64(end) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="minimal-timeline" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f">`, W, H, W, H)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%.0f" height="%.0f" fill="#fff"/>`, W, H)
	// Fault spans first, under everything.
	row := 0
	for i, f := range r.Steps {
		if !f.Fired {
			continue
		}
		labelY := 14 + 13*float64(row)
		row++
		col := stepColors[i%len(stepColors)]
		x0, x1 := x(f.At), x(f.Healed)
		if x1-x0 < 3 {
			x1 = x0 + 3
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="%.0f" fill="%s" fill-opacity="0.16" stroke="%s" stroke-width="1"/>`,
			x0, labelY+3, x1-x0, H-labelY-9, col, col)
		fmt.Fprintf(&b, `<text class="flabel" x="%.1f" y="%.0f" fill="%s" style="fill:%s">step %d: %s</text>`,
			x0+3, labelY, col, col, i+1, html.EscapeString(string(f.Step.Fault)))
	}
	// Acked records.
	maxAck := 1
	for _, a := range tl.Acked {
		maxAck = max(maxAck, a)
	}
	fmt.Fprintf(&b, `<text class="ttl" x="4" y="%.0f">acked</text>`, ackTop+12)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#9ca3af"/>`, left, ackTop+ackH, W-right, ackTop+ackH)
	fmt.Fprintf(&b, `<text x="4" y="%.0f">%d</text>`, ackTop+26, maxAck)
	var pts []string
	for i, a := range tl.Acked {
		d := time.Duration(i) * 50 * time.Millisecond
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(d), ackTop+ackH-ackH*float64(a)/float64(maxAck)))
	}
	if len(pts) > 0 {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#2563eb" stroke-width="2.5" points="%s"/>`, strings.Join(pts, " "))
	}
	// PUTs, one lane per partition.
	fmt.Fprintf(&b, `<text class="ttl" x="4" y="%.0f">PUTs</text>`, putTop+10)
	for _, p := range tl.Puts {
		lane := partitionOf(p.Key) % lanes
		if lane < 0 {
			lane = 0
		}
		y := putTop + float64(lane)*laneH
		e := p.Ended
		col := "#16a34a"
		switch {
		case e == 0:
			e, col = tl.End, "#9ca3af"
		case p.Status >= 300 || p.Status == 0:
			col = "#dc2626"
		}
		w := max(x(e)-x(p.Began), 2)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"><title>PUT %s → %d</title></rect>`,
			x(p.Began), y+1, w, laneH-3, col, html.EscapeString(p.Key), p.Status)
	}
	fmt.Fprintf(&b, `<text class="ttl" x="4" y="%.0f">commits</text>`, commitY+9)
	for _, c := range tl.Commits {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="2" height="12" fill="#ea580c"/>`, x(c), commitY)
	}
	// Time axis.
	step := exploreTick(end)
	for t := time.Duration(0); t <= end; t += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f">%s</text>`, x(t)-8, H-6, t.Round(10*time.Millisecond))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

func exploreTick(end time.Duration) time.Duration {
	for _, s := range []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second} {
		if end/s <= 10 {
			return s
		}
	}
	return 30 * time.Second
}

func partitionOf(key string) int {
	base := filepath.Base(key)
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	f := strings.Split(base, "+")
	if len(f) < 3 {
		return 0
	}
	var p int
	if _, err := fmt.Sscan(f[len(f)-2], &p); err != nil {
		return 0
	}
	return p
}

// verdictClass is the badge class of a verdict.
func verdictClass(v string) string {
	switch checker.Verdict(v) {
	case checker.Ok:
		return "b-passed"
	case checker.Illegal:
		return "b-bug-reproduced"
	}
	return "b-skipped"
}
