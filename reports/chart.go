package reports

import (
	"fmt"
	"math"
	"strings"
)

// chart is the geometry of the timeline SVG; the template only draws it.
type chart struct {
	Width, Height     float64
	PlotLeft, PlotEnd float64 // x range of the plot area
	LegendX           float64
	Spans             []span
	Panels            []panelView
	XTicks            []tick
	AxisY             float64 // y of the time axis labels
	PlotTop, PlotBot  float64 // y range spanned by fault shading
}

type span struct {
	X, W, Y, H     float64
	Color          string
	Label          string
	LabelX, LabelY float64
	Open           bool // never healed
}

type panelView struct {
	Title         string
	Top, Bottom   float64
	YTicks        []tick
	Lines         []line
	Legend        []legendItem
	Empty         bool
	TitleY, MidY  float64
	HasLegendMore int
}

type line struct {
	D     string
	Color string
	Dash  string
	Width float64
}

type legendItem struct {
	Label string
	Color string
	Dash  string
	Y     float64
}

type tick struct {
	Pos   float64
	Label string
}

var palette = []string{"#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563"}

var faultColors = []string{"#ef4444", "#f59e0b", "#8b5cf6", "#14b8a6", "#ec4899"}

var panelTitles = map[string]string{
	PanelThroughput: "Throughput (records/s)",
	PanelLag:        "Consumer lag (records)",
	PanelFreshness:  "Freshness (seconds behind)",
	PanelBuffered:   "Connector buffered bytes",
	PanelStore:      "Object-store requests (per second)",
}

const (
	chartWidth  = 1040.0
	plotLeft    = 78.0
	plotEnd     = 770.0
	panelHeight = 120.0
	panelGap    = 40.0
	laneHeight  = 17.0
	maxLegend   = 8
)

// buildChart lays out the report's timeline and fault spans.
func buildChart(r Report) chart {
	c := chart{Width: chartWidth, PlotLeft: plotLeft, PlotEnd: plotEnd, LegendX: plotEnd + 16}
	dur := r.Timeline.DurationSeconds
	if dur <= 0 {
		dur = 1
	}
	x := func(s float64) float64 { return plotLeft + (plotEnd-plotLeft)*min(max(s/dur, 0), 1) }

	// Fault labels go in lanes above the panels, so they never overlap.
	var laneEnds []float64
	type placed struct {
		f    Fault
		lane int
	}
	var faults []placed
	for _, f := range r.Faults {
		label := f.Fault
		if f.Target != "" {
			label += " · " + f.Target
		}
		x0 := x(f.StartSeconds)
		w := float64(len(label))*6.6 + 10
		lane := -1
		for i, end := range laneEnds {
			if end <= x0 {
				lane = i
				break
			}
		}
		if lane < 0 {
			lane = len(laneEnds)
			laneEnds = append(laneEnds, 0)
		}
		laneEnds[lane] = x0 + w
		faults = append(faults, placed{f, lane})
	}
	top := 8 + laneHeight*float64(len(laneEnds)) + 6

	panels := map[string][]Series{}
	for _, s := range r.Timeline.Series {
		panels[s.Panel] = append(panels[s.Panel], s)
	}
	y := top
	for _, p := range panelOrder {
		ss := panels[p]
		if len(ss) == 0 && p != PanelThroughput {
			continue
		}
		pv := panelView{Title: panelTitles[p], TitleY: y + 14}
		pv.Top = y + 22
		pv.Bottom = pv.Top + panelHeight
		pv.MidY = (pv.Top + pv.Bottom) / 2
		ymax := 0.0
		for _, s := range ss {
			for _, pt := range s.Points {
				ymax = max(ymax, pt[1])
			}
		}
		pv.Empty = ymax == 0
		unit := ""
		if len(ss) > 0 {
			unit = ss[0].Unit
		}
		step := axisStep(ymax, unit)
		ymax = math.Max(math.Ceil(ymax/step-1e-9), 1) * step
		for v := 0.0; v <= ymax+step/2; v += step {
			pv.YTicks = append(pv.YTicks, tick{Pos: pv.Bottom - panelHeight*v/ymax, Label: formatValue(v, unit)})
		}
		yv := func(v float64) float64 { return pv.Bottom - panelHeight*min(max(v/ymax, 0), 1) }
		for i, s := range ss {
			color := palette[i%len(palette)]
			dash := ""
			switch {
			case s.Name == "produce failed or unknown" || strings.Contains(s.Name, "5xx") || strings.Contains(s.Name, "error"):
				color = "#dc2626"
			case s.Name == "total":
				color, dash = "#111827", "5 3"
			}
			var b strings.Builder
			for j, pt := range s.Points {
				if j == 0 {
					b.WriteString("M")
				} else {
					b.WriteString(" L")
				}
				fmt.Fprintf(&b, "%.1f %.1f", x(pt[0]), yv(pt[1]))
			}
			if b.Len() > 0 {
				pv.Lines = append(pv.Lines, line{D: b.String(), Color: color, Dash: dash, Width: 1.6})
			}
			if i < maxLegend {
				pv.Legend = append(pv.Legend, legendItem{Label: s.Name, Color: color, Dash: dash, Y: pv.Top + 8 + 15*float64(i)})
			}
		}
		pv.HasLegendMore = max(len(ss)-maxLegend, 0)
		c.Panels = append(c.Panels, pv)
		y = pv.Bottom + panelGap
	}
	c.PlotTop = top
	c.PlotBot = y - panelGap
	c.AxisY = c.PlotBot + 18
	c.Height = c.AxisY + 24

	for i, pf := range faults {
		f := pf.f
		x0 := x(f.StartSeconds)
		end := dur
		if f.HealSeconds != nil {
			end = *f.HealSeconds
		}
		x1 := max(x(end), x0+2)
		label := f.Fault
		if f.Target != "" {
			label += " · " + f.Target
		}
		c.Spans = append(c.Spans, span{
			X: x0, W: x1 - x0, Y: 8 + laneHeight*float64(pf.lane), H: c.PlotBot - 8 - laneHeight*float64(pf.lane),
			Color: faultColors[i%len(faultColors)], Label: label,
			LabelX: x0 + 4, LabelY: 8 + laneHeight*float64(pf.lane) + 12, Open: f.HealSeconds == nil,
		})
	}

	step := niceStep(dur / 8)
	for s := 0.0; s <= dur+1e-9; s += step {
		c.XTicks = append(c.XTicks, tick{Pos: x(s), Label: formatSeconds(s)})
	}
	return c
}

// axisStep is the y-axis tick step for values up to v: about four ticks,
// each 1, 2, 2.5 or 5 times a power of ten (of 1024 for bytes), integral
// for counts.
func axisStep(v float64, unit string) float64 {
	if v <= 0 {
		return 1
	}
	scale := 1.0
	if unit == "bytes" {
		for scale*1024 <= v {
			scale *= 1024
		}
	}
	step := niceStep(v / scale / 4)
	if unit == "records" || unit == "bytes" && scale == 1 {
		step = math.Max(step, 1)
	}
	return step * scale
}

// niceStep rounds v to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func formatSeconds(s float64) string {
	if s == math.Trunc(s) {
		return fmt.Sprintf("%.0fs", s)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", s), "0"), ".") + "s"
}

// formatValue prints an axis value compactly, in the unit's terms.
func formatValue(v float64, unit string) string {
	if unit == "bytes" {
		return formatBytes(v)
	}
	switch {
	case v >= 1e6:
		return trim(v/1e6) + "M"
	case v >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

func formatBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return trim(v/(1<<30)) + " GiB"
	case v >= 1<<20:
		return trim(v/(1<<20)) + " MiB"
	case v >= 1<<10:
		return trim(v/(1<<10)) + " KiB"
	}
	return trim(v) + " B"
}

func trim(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}
