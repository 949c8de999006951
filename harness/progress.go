package harness

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipechaos/pipechaos/harness/history"
)

// ProgressEvery is how often a run at scale reports its progress.
const ProgressEvery = 2 * time.Second

// progress reports a long run's progress every ProgressEvery: records
// produced, acked, written by the sink (as the history saw them) and
// verified (read back from the bucket by the checker), with rates and an
// ETA. On a terminal it is one live line on stderr, redrawn in place; else
// (CI, go test) plain narrative lines. It is on for runs at scale > 1, or
// with PIPECHAOS_PROGRESS=1; PIPECHAOS_PROGRESS=0 turns it off.
type progress struct {
	h        *history.History
	expected int // records the run is expected to produce
	logf     func(string, ...any)
	live     io.Writer // nil: plain lines through logf

	verified atomic.Int64
	stop     chan struct{}
	done     sync.WaitGroup

	last     time.Time
	lastProd int
	lastAck  int
	lastWr   int64
	lastVer  int64
}

func startProgress(h *history.History, expected, scale int, logf func(string, ...any)) *progress {
	switch os.Getenv("PIPECHAOS_PROGRESS") {
	case "0":
		return nil
	case "1":
	default:
		if scale <= 1 {
			return nil
		}
	}
	p := &progress{h: h, expected: expected, logf: logf, stop: make(chan struct{}), last: time.Now()}
	if isTerminal(os.Stderr) {
		p.live = os.Stderr
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case now := <-t.C:
				p.report(now)
			}
		}
	}()
	return p
}

// Verified adds n records read back by the checker.
func (p *progress) Verified(total int64) {
	if p != nil {
		p.verified.Store(total)
	}
}

func (p *progress) Stop() {
	if p == nil {
		return
	}
	close(p.stop)
	p.done.Wait()
	p.report(time.Now())
	if p.live != nil {
		fmt.Fprintln(p.live)
	}
}

func (p *progress) report(now time.Time) {
	dt := now.Sub(p.last).Seconds()
	if dt <= 0 {
		return
	}
	prod := p.h.Count(history.Produce, "")
	ack := p.h.Count(history.Produce, history.Acked)
	wr := p.h.Written()
	ver := p.verified.Load()
	rate := func(now, before float64) string { return fmt.Sprintf("%.0f/s", (now-before)/dt) }
	line := fmt.Sprintf("progress: produced %d/%d (%s) acked %d (%s) written %d (%s) verified %d (%s)",
		prod, p.expected, rate(float64(prod), float64(p.lastProd)), ack, rate(float64(ack), float64(p.lastAck)),
		wr, rate(float64(wr), float64(p.lastWr)), ver, rate(float64(ver), float64(p.lastVer)))
	// ETA: producing, then verifying what was acked.
	switch {
	case prod < p.expected && prod > p.lastProd:
		line += fmt.Sprintf(" ETA produce %s", eta(p.expected-prod, float64(prod-p.lastProd)/dt))
	case ver > 0 && ver < int64(ack) && ver > p.lastVer:
		line += fmt.Sprintf(" ETA verify %s", eta(ack-int(ver), float64(ver-p.lastVer)/dt))
	}
	p.last, p.lastProd, p.lastAck, p.lastWr, p.lastVer = now, prod, ack, wr, ver
	if p.live != nil {
		fmt.Fprintf(p.live, "\r%s\x1b[K", line)
		return
	}
	if p.logf != nil {
		p.logf("%s", line)
	}
}

func eta(left int, perSecond float64) string {
	if perSecond <= 0 {
		return "unknown"
	}
	return (time.Duration(float64(left) / perSecond * float64(time.Second))).Round(time.Second).String()
}

// isTerminal reports whether f is a character device (a terminal), unless
// TERM says it is a dumb one or CI is set.
func isTerminal(f *os.File) bool {
	if os.Getenv("CI") != "" || strings.EqualFold(os.Getenv("TERM"), "dumb") {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
