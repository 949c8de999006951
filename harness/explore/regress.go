package explore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pipechaos/pipechaos/harness/checker"
)

// RegressionSchema names the format of a regression file.
const RegressionSchema = "pipechaos.regression/v1"

// Regression is a finding as a file: the minimal schedule (with its seed
// and workload), the sink and backend it ran on, and the consequence it
// produced.
type Regression struct {
	Schema    string    `json:"schema"`
	Sink      string    `json:"sink"`
	Backend   string    `json:"backend"`
	Schedule  Schedule  `json:"schedule"`
	Expect    Expect    `json:"expect"`
	Narrative string    `json:"narrative"`
	Found     time.Time `json:"found"`
}

// Expect is the consequence a regression file recorded.
type Expect struct {
	Class      Class `json:"class"`
	Lost       int   `json:"lost"`
	Duplicated int   `json:"duplicated"`
	Reordered  int   `json:"reordered"`
	Unexpected int   `json:"unexpected"`
	LagLeft    int64 `json:"lag_left"`
}

func expectOf(r Result) Expect {
	e := Expect{Class: r.Class, LagLeft: r.LagLeft}
	if c := r.Check; c != nil {
		e.Lost, e.Duplicated, e.Reordered, e.Unexpected = c.Lost, c.Duplicated, c.Reordered, c.Unexpected
	}
	return e
}

// NewRegression makes the regression file of a failing run.
func NewRegression(cfg Config, r Result) Regression {
	return Regression{Schema: RegressionSchema, Sink: cfg.SinkName, Backend: cfg.Backend, Schedule: r.Schedule,
		Expect: expectOf(r), Narrative: Narrative(r), Found: time.Now().UTC().Truncate(time.Second)}
}

// WriteRegression writes reg into dir as <sink>-<class>-<seed>.json and
// returns the path.
func WriteRegression(dir string, reg Regression) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("regression dir: %w", err)
	}
	name := fmt.Sprintf("%s-%s-%d.json", reg.Sink, strings.ReplaceAll(string(reg.Expect.Class), " ", "-"), reg.Schedule.Seed)
	b, err := json.MarshalIndent(reg, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write regression file: %w", err)
	}
	return path, nil
}

// ReadRegression reads and checks a regression file.
func ReadRegression(path string) (Regression, error) {
	var reg Regression
	b, err := os.ReadFile(path)
	if err != nil {
		return reg, fmt.Errorf("read regression file: %w", err)
	}
	if err := json.Unmarshal(b, &reg); err != nil {
		return reg, fmt.Errorf("%s is not a regression file (JSON): %w", path, err)
	}
	if reg.Schema != RegressionSchema {
		return reg, fmt.Errorf("%s: schema %q, want %q (a file written by `pipechaos explore`)", path, reg.Schema, RegressionSchema)
	}
	if reg.Expect.Class == "" {
		return reg, fmt.Errorf("%s: no expected consequence class", path)
	}
	if err := reg.Schedule.Validate(); err != nil {
		return reg, fmt.Errorf("%s: %w", path, err)
	}
	return reg, nil
}

// Replayed is one replay of a regression file, told honestly.
type Replayed struct {
	Result Result `json:"result"`
	// Reproduced: Illegal with the recorded consequence class.
	Reproduced bool `json:"reproduced"`
	// SameCounts: and with the same lost/duplicated/reordered/unexpected
	// counts as recorded.
	SameCounts bool   `json:"same_counts"`
	Says       string `json:"says"`
}

// Replay runs a regression file's schedule once.
func Replay(ctx context.Context, cfg Config, reg Regression) (Replayed, error) {
	if cfg.Sink == nil {
		return Replayed{}, errors.New("replay: no sink")
	}
	if cfg.SinkName == "" {
		cfg.SinkName = reg.Sink
	}
	r := Run(ctx, cfg, reg.Schedule)
	out := Replayed{Result: r}
	if r.Error != "" {
		out.Says = "could not run: " + r.Error
		return out, nil
	}
	got := expectOf(r)
	out.Reproduced = r.Verdict == checker.Illegal && r.Has(reg.Expect.Class)
	out.SameCounts = out.Reproduced && got.Lost == reg.Expect.Lost && got.Duplicated == reg.Expect.Duplicated &&
		got.Reordered == reg.Expect.Reordered && got.Unexpected == reg.Expect.Unexpected
	switch {
	case out.SameCounts:
		out.Says = fmt.Sprintf("reproduced: %s, same counts (%s)", reg.Expect.Class, r.Why)
	case out.Reproduced:
		out.Says = fmt.Sprintf("reproduced: %s, other counts (%s; recorded lost=%d duplicated=%d reordered=%d unexpected=%d)",
			reg.Expect.Class, r.Why, reg.Expect.Lost, reg.Expect.Duplicated, reg.Expect.Reordered, reg.Expect.Unexpected)
	case r.Verdict == checker.Illegal:
		out.Says = fmt.Sprintf("not reproduced: Illegal, but %s instead of %s (%s)", r.Class, reg.Expect.Class, r.Why)
	default:
		out.Says = fmt.Sprintf("not reproduced: verdict %s (%s)", r.Verdict, r.Why)
	}
	return out, nil
}
