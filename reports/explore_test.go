package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/explore"
)

func TestExploreHTMLDrawsTheMinimalSchedule(t *testing.T) {
	kill := explore.Step{Fault: explore.SinkKill, HoldMS: 100, Trigger: explore.Trigger{Phase: explore.PutUncommitted}}
	minimal := explore.Result{
		Schedule: explore.Schedule{Seed: 9, Workload: explore.Workload{Records: 400, Partitions: 2, Rate: 1000}, Steps: []explore.Step{kill}},
		Verdict:  checker.Illegal, Class: explore.ClassLost, Why: "213 acked records never reached the bucket",
		Check: &checker.Result{Lost: 213},
		Steps: []explore.Fired{{Step: kill, Fired: true, Met: true, At: 300 * time.Millisecond, Healed: 400 * time.Millisecond,
			Phases: []explore.Phase{explore.PutUncommitted}, PutKey: "topics/explore/partition=1/explore+1+200.avro", PutReturned: true, PutAgoMS: 40}},
		Timeline: explore.Timeline{Acked: []int{0, 100, 250, 400}, End: time.Second,
			Puts:    []explore.TimelinePut{{Key: "topics/explore/partition=1/explore+1+200.avro", Began: 200 * time.Millisecond, Ended: 260 * time.Millisecond, Status: 200}},
			Commits: []time.Duration{150 * time.Millisecond}},
	}
	cov := &explore.Coverage{Kinds: []explore.Kind{explore.SinkKill}, Phases: explore.Phases,
		Fired: map[explore.Kind]map[explore.Phase]int{explore.SinkKill: {explore.PutUncommitted: 1}},
		Met:   map[explore.Kind]map[explore.Phase]int{explore.SinkKill: {explore.PutUncommitted: 1}}}
	rep := &explore.Report{Sink: "s3sink-commit-before-write", Backend: "embedded", Seed: 1, Runs: []explore.Result{minimal},
		Illegal: 1, Coverage: cov, Unsupported: map[explore.Kind]string{explore.SinkPause: "in process"},
		Findings: []explore.Finding{{Original: minimal, Minimal: minimal, Narrative: explore.Narrative(minimal), Confirmed: 3, Confirmations: 3, File: "x.json"}}}
	var b bytes.Buffer
	if err := ExploreHTML(&b, rep); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		`<svg id="minimal-timeline"`, "step 1: sink-kill", "killed 40 ms after its PUT of explore&#43;1&#43;200 returned and before it committed",
		`id="matrix"`, `<td class="cell hit">1/1</td>`, "unsupported: in process", "pipechaos replay x.json", "confirmed",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "http://") && !strings.Contains(page, "http://www.w3.org/2000/svg") {
		t.Error("the page is not self-contained")
	}
}
