// Command explorecheck backs `make explore-check` (scripts/explore-check.sh):
//
//	explorecheck finding <explore.json> <max-steps>        print the regression file of the first confirmed finding
//	explorecheck fixed <explore.json> <min-ok> <kind> <phase>  at least min-ok Ok runs, none Illegal, the point hit
//	explorecheck png <screenshot.png>                      check the screenshot shows the minimal schedule's timeline
//
// Each prints what it found and exits non-zero when the claim does not hold.
package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"strconv"

	"github.com/pipechaos/pipechaos/harness/explore"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "explorecheck:", err)
		os.Exit(1)
	}
}

func read(path string) (*explore.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep explore.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &rep, nil
}

func run(args []string) error {
	switch {
	case len(args) == 3 && args[0] == "finding":
		rep, err := read(args[1])
		if err != nil {
			return err
		}
		maxSteps, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		f := rep.FirstReliable()
		if f == nil {
			return fmt.Errorf("no confirmed finding in %d runs (%d findings, all flaky)", len(rep.Runs), len(rep.Findings))
		}
		if n := len(f.Minimal.Schedule.Steps); n > maxSteps {
			return fmt.Errorf("the minimal schedule has %d steps, want at most %d", n, maxSteps)
		}
		fmt.Fprintf(os.Stderr, "finding: %s at run %d after %s; %d steps; shrink runs %d; confirmed %d/%d\n",
			f.Minimal.Class, f.Run+1, f.FoundAfter.Round(1e6), len(f.Minimal.Schedule.Steps), f.ShrinkRuns, f.Confirmed, f.Confirmations)
		fmt.Println(f.File)
		return nil
	case len(args) == 5 && args[0] == "fixed":
		rep, err := read(args[1])
		if err != nil {
			return err
		}
		minOK, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		k, p := explore.Kind(args[3]), explore.Phase(args[4])
		hit := rep.Coverage.Hit(k, p)
		fmt.Printf("%d runs: %d ok, %d illegal, %d unknown, %d errors; %s × %s hit %d times\n",
			len(rep.Runs), rep.Ok, rep.Illegal, rep.Unknown, rep.Errors, k, p, hit)
		switch {
		case rep.Illegal > 0:
			return fmt.Errorf("%d runs of the fixed sink ended Illegal", rep.Illegal)
		case rep.Ok < minOK:
			return fmt.Errorf("%d Ok runs, want at least %d", rep.Ok, minOK)
		case hit == 0:
			return fmt.Errorf("the coverage point %s × %s was never hit", k, p)
		}
		return nil
	case len(args) == 2 && args[0] == "png":
		return checkPNG(args[1])
	}
	return fmt.Errorf("usage: explorecheck finding <explore.json> <max-steps> | fixed <explore.json> <min-ok> <kind> <phase> | png <file.png>")
}

// checkPNG looks, in the upper part of the page where the first finding's
// timeline is drawn, for the shaded fault span (a wide area of a pale
// saturated colour) and the blue acked line.
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
	band := image.Rect(b.Min.X, b.Min.Y, b.Max.X, b.Min.Y+b.Dy()*3/4)
	var shaded, blue, ink int
	for y := band.Min.Y; y < band.Max.Y; y++ {
		for x := band.Min.X; x < band.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r8, g8, b8 := int(r>>8), int(g>>8), int(bl>>8)
			if r8 < 235 || g8 < 235 || b8 < 235 {
				ink++
			}
			if b8 > 180 && r8 < 80 && g8 < 130 {
				blue++
			}
			if r8 > 200 && max(r8, g8, b8)-min(r8, g8, b8) > 25 && max(r8, g8, b8)-min(r8, g8, b8) < 90 {
				shaded++
			}
		}
	}
	fmt.Printf("%s: %dx%d; upper band: %d drawn pixels, %d of the acked line, %d of shaded fault spans\n", path, b.Dx(), b.Dy(), ink, blue, shaded)
	if blue < 300 || shaded < 5000 {
		return fmt.Errorf("%s does not show the minimal schedule on its timeline (want ≥300 line and ≥5000 shaded pixels)", path)
	}
	fmt.Println("ok: the minimal schedule is drawn on the timeline")
	return nil
}
