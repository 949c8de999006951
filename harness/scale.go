package harness

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ScaleEnv names the environment variable that sets the scale of a run:
// PIPECHAOS_SCALE=100 runs every scenario with 100 times the records at
// 100 times the rate, its record-count fault triggers moved with them.
const ScaleEnv = "PIPECHAOS_SCALE"

// MaxScale is the largest scale accepted at all (the machine's limits
// usually refuse far less).
const MaxScale = 1_000_000

// ScaleFromEnv returns $PIPECHAOS_SCALE, or 1 if it is unset.
func ScaleFromEnv() (int, error) {
	s := os.Getenv(ScaleEnv)
	if s == "" {
		return 1, nil
	}
	n, err := ParseScale(s)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", ScaleEnv, s, err)
	}
	return n, nil
}

// ParseScale reads a scale factor: a whole number from 1 to MaxScale.
func ParseScale(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > MaxScale {
		return 0, fmt.Errorf("the scale must be a whole number from 1 to %d (1 = the scenario as written, 100 = a hundred times the records at a hundred times the rate)", MaxScale)
	}
	return n, nil
}

// DefaultRecords is what a scenario that does not declare Records is
// assumed to produce at scale 1: the catalogue's largest workload.
const DefaultRecords = 4000

// backendCost is what one produced record costs on a backend, and how fast
// a run gets through records end to end (produce, sink, drain, verify).
// Memory: on embedded the brokers (kfake keeps every batch) and the store
// (gofakes3 in memory) share the harness's process; elsewhere they are
// processes or containers on the same machine. The numbers are measured
// orders of magnitude, rounded up (see BenchmarkScale and the notes in
// the README's scale section).
type backendCost struct {
	memory, disk int64   // bytes per record
	rate         float64 // records per second end to end
}

var backendCosts = map[string]backendCost{
	"embedded":   {memory: 700, disk: 0, rate: 20_000},
	"nodes":      {memory: 64, disk: 1_000, rate: 10_000},
	"containers": {memory: 64, disk: 1_000, rate: 10_000},
}

// Estimate is what a run at some scale is expected to need.
type Estimate struct {
	Scale   int
	Records int
	Memory  int64
	Disk    int64
	Time    time.Duration
}

// EstimateScale estimates what scenario s needs at scale on backend.
func EstimateScale(s *Scenario, scale int, backend string) Estimate {
	per := s.Records
	if per <= 0 {
		per = DefaultRecords
	}
	c, ok := backendCosts[backend]
	if !ok {
		c = backendCosts["embedded"]
	}
	n := per * scale
	return Estimate{
		Scale: scale, Records: n,
		Memory: int64(n) * c.memory, Disk: int64(n) * c.disk,
		Time: time.Duration(float64(n) / c.rate * float64(time.Second)),
	}
}

// Limits are what the machine offers a run. Zero means no limit.
type Limits struct {
	Memory int64         // bytes the run may take (80% of what is available)
	Disk   int64         // free bytes where the backend keeps its data
	Time   time.Duration // time left (a test's deadline, $PIPECHAOS_TIME_BUDGET)
}

// MachineLimits reads the limits of this machine: available memory (and a
// cgroup's limit, when lower), free disk under dir, and the time left before
// deadline (zero: none) or $PIPECHAOS_TIME_BUDGET, whichever is sooner.
func MachineLimits(dir string, deadline time.Time) (Limits, error) {
	var l Limits
	if avail, ok := memAvailable(); ok {
		l.Memory = avail / 10 * 8
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && (l.Memory == 0 || v/10*8 < l.Memory) {
			l.Memory = v / 10 * 8
		}
	}
	var st syscall.Statfs_t
	if dir == "" {
		dir = os.TempDir()
	}
	if err := syscall.Statfs(dir, &st); err == nil {
		l.Disk = int64(st.Bavail) * int64(st.Bsize)
	}
	if !deadline.IsZero() {
		l.Time = time.Until(deadline)
	}
	if s := os.Getenv("PIPECHAOS_TIME_BUDGET"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return l, fmt.Errorf("PIPECHAOS_TIME_BUDGET=%q is not a positive duration (write it like 10m or 90s)", s)
		}
		if l.Time == 0 || d < l.Time {
			l.Time = d
		}
	}
	return l, nil
}

func memAvailable() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// CheckScale refuses a scale the machine cannot hold, before anything
// starts: the error names each limit the estimate exceeds, with the numbers,
// and the largest scale that fits them all.
func CheckScale(s *Scenario, scale int, backend string, lim Limits) error {
	if scale <= 1 {
		return nil
	}
	est := EstimateScale(s, scale, backend)
	one := EstimateScale(s, 1, backend)
	largest := scale
	var over []string
	check := func(what string, need, have, perScale int64, unit func(int64) string) {
		if have <= 0 || need <= have {
			return
		}
		over = append(over, fmt.Sprintf("%s: needs about %s, the machine has %s", what, unit(need), unit(have)))
		if perScale > 0 {
			largest = min(largest, int(have/perScale))
		}
	}
	check("memory", est.Memory, lim.Memory, one.Memory, bytesText)
	check("disk", est.Disk, lim.Disk, one.Disk, bytesText)
	check("time", int64(est.Time), int64(lim.Time), int64(one.Time), func(v int64) string { return time.Duration(v).Round(time.Second).String() })
	if len(over) == 0 {
		return nil
	}
	fit := "no scale above 1 fits"
	if largest >= 1 {
		fit = fmt.Sprintf("the largest scale that fits is %d", largest)
	}
	return fmt.Errorf("scale %d refused for %s on the %s backend (%d records): %s; %s",
		scale, s.Name, backend, est.Records, strings.Join(over, "; "), fit)
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// Scale is the run's scale factor (1: the scenario as written).
func (r *Run) Scale() int { return max(r.scale, 1) }

// Scaled is n records (or a rate, a count threshold) at the run's scale.
func (r *Run) Scaled(n int) int { return n * r.Scale() }

// ScaledTimeout is a deadline for work that grows with the records (a
// drain, a read-back) at the run's scale.
func (r *Run) ScaledTimeout(d time.Duration) time.Duration { return d * time.Duration(r.Scale()) }
