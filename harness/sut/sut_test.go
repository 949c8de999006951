package sut_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness/sut"
)

func TestMain(m *testing.M) {
	sut.Main()
	goleak.VerifyTestMain(m)
}

// hog is a sink that holds PIPECHAOS_TEST_ALLOC_MIB MiB, touched, until
// it is stopped.
type hog struct{ stop chan struct{} }

func (h *hog) Run(ctx context.Context) error {
	mib, _ := strconv.Atoi(os.Getenv("PIPECHAOS_TEST_ALLOC_MIB"))
	buf := make([]byte, mib<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	select {
	case <-ctx.Done():
	case <-h.stop:
	}
	_ = buf[len(buf)/2]
	return nil
}
func (h *hog) Close() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
}

var hogFactory = sut.Register("test-hog", func(connectors.Addresses, string) (connectors.Sink, error) {
	return &hog{stop: make(chan struct{})}, nil
})

var addrs = connectors.Addresses{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Group: "g", RegistryURL: "http://127.0.0.1:1",
	S3Endpoint: "127.0.0.1:1", S3AccessKey: "a", S3SecretKey: "s", Bucket: "b"}

func spec(t *testing.T, name string, mib int) sut.Spec {
	t.Helper()
	s, err := sut.ForFactory(hogFactory, name, addrs, fmt.Sprintf("PIPECHAOS_TEST_ALLOC_MIB=%d", mib))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// state is the process state letter in /proc/<pid>/stat (S sleeping, T stopped).
func state(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i > 0 && len(s) > i+2 {
		return s[i+2 : i+3]
	}
	return "?"
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKillPauseResumeRestartStop(t *testing.T) {
	ctx := context.Background()
	p := sut.StartT(t, ctx, spec(t, "hog-a", 1))
	waitFor(t, "the child to log that it runs", func() bool { return strings.Contains(p.Tail(5), "consuming t as group g") })

	pid := p.PID()
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "SIGSTOP to stop the process", func() bool { return state(pid) == "T" })
	if !p.Paused() {
		t.Error("Paused() = false after Pause")
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "SIGCONT to resume it", func() bool { return state(pid) != "T" })

	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	ex := p.Exits()[0]
	if ex.Signal != "killed" || !ex.ByHarness || ex.Code != -1 {
		t.Fatalf("after Kill: %+v, want signal killed by the harness", ex)
	}
	if err := p.Pause(); !errors.Is(err, sut.ErrNotRunning) {
		t.Fatalf("Pause of a dead process: %v, want ErrNotRunning", err)
	}

	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Instances() != 2 || p.PID() == pid || p.PID() == 0 {
		t.Fatalf("after Restart: %d instances, pid %d (was %d)", p.Instances(), p.PID(), pid)
	}
	waitFor(t, "the restarted child to run", func() bool { return strings.Count(p.Tail(20), "consuming t as group g") == 2 })
	// A paused process still stops on SIGTERM.
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	ex, err := p.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Code != 0 || !ex.ByHarness {
		t.Fatalf("after Stop: %s, want exit 0", ex)
	}
	if !strings.Contains(p.Tail(3), "stopped") {
		t.Fatalf("the log does not show the clean stop:\n%s", p.Tail(10))
	}
}

func TestPeakRSSMeasuredFromOutside(t *testing.T) {
	p := sut.StartT(t, context.Background(), spec(t, "hog-rss", 64))
	waitFor(t, "the allocation", func() bool { return p.PeakRSS() >= 64<<20 })
	ex, err := p.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ex.PeakRSS < 64<<20 || ex.PeakRSS > 1<<30 {
		t.Fatalf("peak RSS %d bytes, want at least the 64 MiB the child touched", ex.PeakRSS)
	}
	t.Logf("peak RSS of a child holding 64 MiB: %.1f MiB", float64(ex.PeakRSS)/(1<<20))
}

func TestMemoryCapOOMKills(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("no cgroup v1 memory controller at /sys/fs/cgroup/memory: the cap would be RLIMIT_AS, which fails allocations instead of OOM-killing")
	}
	s := spec(t, "hog-oom", 512)
	s.MemoryLimit = 128 << 20
	p := sut.StartT(t, context.Background(), s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ex, err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("the child holding 512 MiB under a 128 MiB cap was not killed: %v", err)
	}
	if !ex.OOMKilled || ex.ByHarness || p.OOMKills() != 1 {
		t.Fatalf("exit %s (%+v), want an OOM kill not sent by the harness", ex, ex)
	}
	t.Logf("%s", ex)
}

func TestSweepKillsOrphans(t *testing.T) {
	// A process left by a harness that is gone: its owner names a pid and
	// start time that no live process has.
	cmd := exec.Command("sleep", "60")
	cmd.Env = append(os.Environ(), "PIPECHAOS_SUT_OWNER=999999999:1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if n := sut.Sweep(); n < 1 {
		t.Errorf("Sweep killed %d processes, want the orphan", n)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("the orphan survived the sweep")
	}
}

func TestSinkRunKillClose(t *testing.T) {
	s, err := sut.NewSink(spec(t, "hog-sink", 1))
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- s.Run(context.Background()) }()
	p := s.Process()
	waitFor(t, "the sink to run", func() bool { return strings.Contains(p.Tail(5), "consuming") })
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; !errors.Is(err, sut.ErrKilled) {
		t.Fatalf("Run after Kill returned %v, want ErrKilled", err)
	}
	s.Close()

	s2, _ := sut.NewSink(spec(t, "hog-sink2", 1))
	go func() { ran <- s2.Run(context.Background()) }()
	p2 := s2.Process()
	waitFor(t, "the second sink to run", func() bool { return strings.Contains(p2.Tail(5), "consuming") })
	s2.Close()
	if err := <-ran; err != nil {
		t.Fatalf("Run after Close returned %v, want nil", err)
	}
}

func TestBadSpec(t *testing.T) {
	_, err := sut.Start(context.Background(), sut.Spec{Name: "a b", MemoryLimit: -1})
	if err == nil || !strings.Contains(err.Error(), "without slashes") || !strings.Contains(err.Error(), "no command") ||
		!strings.Contains(err.Error(), "negative") {
		t.Fatalf("error %v does not name every problem", err)
	}
}
