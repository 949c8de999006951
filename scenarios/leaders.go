package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/pipechaos/pipechaos/harness"
)

// watchLeaders narrates, from the region's metadata (what any client
// sees), who leads topic's partitions before the run's first fault and
// once none of them is led by the crashed broker any more: the leaders the
// cluster elected. It never decides a verdict. stop ends the watch.
func watchLeaders(ctx context.Context, r *harness.Run, region, topic string, crashed int32) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	cl, err := r.Env.Region(region).Client()
	if err != nil {
		r.Logf("leaders of %q: no client: %v", topic, err)
		cancel()
		return func() {}
	}
	adm := kadm.NewClient(cl)
	leaders := func() (map[int32]int32, error) {
		mctx, mcancel := context.WithTimeout(ctx, 2*time.Second)
		defer mcancel()
		td, err := adm.ListTopics(mctx, topic)
		if err != nil {
			return nil, err
		}
		t, ok := td[topic]
		if !ok || t.Err != nil {
			return nil, fmt.Errorf("topic %s not in metadata (%v)", topic, t.Err)
		}
		m := map[int32]int32{}
		for p, pd := range t.Partitions {
			m[p] = pd.Leader
		}
		return m, nil
	}
	go func() {
		defer close(done)
		defer cl.Close()
		if before, err := leaders(); err == nil {
			r.Logf("leaders of %q before the crash: %s", topic, leaderList(before))
		}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		faultAt := time.Time{}
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if r.History.Count("fault", "") == 0 {
				continue
			}
			if faultAt.IsZero() {
				faultAt = time.Now()
			}
			now, err := leaders()
			if err != nil {
				continue
			}
			moved := true
			for _, l := range now {
				moved = moved && l != crashed && l >= 0
			}
			if moved {
				r.Logf("leaders of %q elected after broker %d crashed (%s after the crash): %s",
					topic, crashed, time.Since(faultAt).Round(10*time.Millisecond), leaderList(now))
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// leaderList is "p0→2 p1→0 ...".
func leaderList(m map[int32]int32) string {
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "p%d→%d", p, m[p])
	}
	return b.String()
}
