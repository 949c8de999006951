// Command reportcheck backs `make report-check` (scripts/report-check.sh):
//
//	reportcheck render <out-dir> <history.json>...   render reports as WriteOutcome/WriteIndex do
//	reportcheck png <screenshot.png>                  check a screenshot shows a drawn timeline
//
// The png check decodes the screenshot and, in the band where the page
// draws the timeline, counts non-white pixels and saturated ones (the plotted
// lines and fault labels; text is grey). A blank page, a page whose SVG did
// not render, or one without series fails with the numbers.
package main

import (
	"fmt"
	"image"
	"image/png"
	"os"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/reports"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "reportcheck:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) >= 3 && args[0] == "render" {
		var outs []harness.Outcome
		for _, p := range args[2:] {
			o, err := reports.ReadRecorded(p)
			if err != nil {
				return err
			}
			if err := reports.WriteOutcome(args[1], o); err != nil {
				return err
			}
			outs = append(outs, o)
		}
		return reports.WriteIndex(args[1], outs)
	}
	if len(args) == 2 && args[0] == "png" {
		return checkPNG(args[1])
	}
	return fmt.Errorf("usage: reportcheck render <out-dir> <history.json>... | reportcheck png <file.png>")
}

func checkPNG(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return fmt.Errorf("%s is not a PNG: %w", path, err)
	}
	b := img.Bounds()
	// The timeline starts below the header (~220px) and fills the next
	// ~900px of a 1500px-high screenshot.
	band := image.Rect(b.Min.X, b.Min.Y+b.Dy()*15/100, b.Max.X, b.Min.Y+b.Dy()*70/100)
	var total, ink, colored int
	rowsWithColor := 0
	for y := band.Min.Y; y < band.Max.Y; y++ {
		rowColored := 0
		for x := band.Min.X; x < band.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r8, g8, b8 := int(r>>8), int(g>>8), int(bl>>8)
			total++
			if r8 < 235 || g8 < 235 || b8 < 235 {
				ink++
			}
			if max(r8, g8, b8)-min(r8, g8, b8) > 60 {
				colored++
				rowColored++
			}
		}
		if rowColored > 0 {
			rowsWithColor++
		}
	}
	inkShare := float64(ink) / float64(total)
	fmt.Printf("%s: %dx%d; timeline band %d rows: %.1f%% non-white pixels, %d saturated pixels on %d rows\n",
		path, b.Dx(), b.Dy(), band.Dy(), 100*inkShare, colored, rowsWithColor)
	var problems []string
	if inkShare < 0.03 {
		problems = append(problems, fmt.Sprintf("only %.1f%% of the timeline band is drawn (want ≥ 3%%)", 100*inkShare))
	}
	if colored < 2000 {
		problems = append(problems, fmt.Sprintf("only %d saturated pixels (series lines, fault labels); want ≥ 2000", colored))
	}
	if rowsWithColor < band.Dy()/4 {
		problems = append(problems, fmt.Sprintf("saturated pixels on only %d of %d rows: the panels are missing", rowsWithColor, band.Dy()))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s does not show a rendered timeline: %v", path, problems)
	}
	fmt.Println("ok: the timeline rendered")
	return nil
}
