package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/containers"
	"github.com/pipechaos/pipechaos/harness/history"
)

// tiny is a scenario that runs on a real embedded environment and decides
// from its "data": the buggy variant loses 3 of 10 records unless caught is
// false, in which case the buggy connector slips through.
func tiny(caught bool) *harness.Scenario {
	return &harness.Scenario{
		Name: "tiny", Incident: 5, Title: "a tiny failover",
		Run: func(ctx context.Context, r *harness.Run) error {
			boot := r.Env.Region(env.Primary).Bootstrap()
			r.Logf("primary region at %s", strings.Join(boot, ","))
			r.History.FaultStarted("region-outage", "primary", "stop the primary region")
			r.History.FaultHealed("region-outage", "primary", "start it again")
			lost := 0
			if r.Variant == harness.Buggy && caught {
				lost = 3
			}
			for id := uint64(1); id <= 10; id++ {
				r.History.Produced("producer", id, "k", history.Acked, "primary", "events", 0, int64(id), nil)
			}
			r.History.Wrote("sink-0", "topics/events/0.avro", 10-lost, 1000)
			res := checker.Result{Verdict: checker.Ok, Attempted: 10, Acked: 10, FoundRecords: 10 - lost, FoundUnique: 10 - lost, Objects: 1, Lost: lost}
			if lost > 0 {
				res.Verdict = checker.Illegal
				res.Violations = []checker.Violation{{Kind: checker.Lost, Count: lost, First: []uint64{8, 9, 10}, Detail: "acked, never found"}}
			}
			r.SetCheck(res)
			return nil
		},
	}
}

func TestRun(t *testing.T) {
	useCatalogue(t, tiny(true))
	dir := t.TempDir()
	code, out, errOut := pipechaos(t, "run", "tiny", "--report", dir, "--seed", "42")
	if code != exitOK {
		t.Fatalf("exit %d, want 0: fixed passed and buggy was caught\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"=== tiny (fixed connector), seed 42",
		"scenario tiny (fixed connector) on the embedded backend, seed 42", // the narrative, as it happens
		"primary region at 127.0.0.1:",
		"--- tiny (fixed): every check passed",
		"ledger: attempted 10, acked 10",
		"as expected: the fixed connector lost nothing",
		"--- tiny (buggy): BUG REPRODUCED: 3 acked records never reached the bucket",
		"lost 3, duplicated 0",
		"as expected: the harness caught the buggy connector",
		"report: " + filepath.Join(dir, "tiny-buggy", "report.html"),
		"HTML report: " + filepath.Join(dir, "index.html"),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout does not say %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "… starting the embedded environment") {
		t.Errorf("no progress line for the environment start: %q", errOut)
	}
	for _, f := range []string{"index.html", "junit.xml", "index.json", "tiny-fixed/report.html", "tiny-buggy/report.json", "tiny-buggy/history.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
	page, _ := os.ReadFile(filepath.Join(dir, "tiny-buggy", "report.html"))
	if !strings.Contains(string(page), "a tiny failover") || !strings.Contains(string(page), "region-outage · primary") {
		t.Error("the report does not carry the scenario's title and fault")
	}
}

func TestRunUnexpectedOutcome(t *testing.T) {
	useCatalogue(t, tiny(false))
	code, out, _ := pipechaos(t, "run", "tiny", "--variant", "buggy", "--seed", "7")
	if code != exitFail {
		t.Errorf("exit %d, want %d when the buggy connector slips through", code, exitFail)
	}
	for _, want := range []string{"NOT AS EXPECTED: the buggy connector slipped through", "replay: PIPECHAOS_SEED=7 pipechaos run tiny --variant buggy --backend embedded"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "(fixed connector)") {
		t.Error("--variant buggy also ran the fixed connector")
	}
}

// TestContainersBackendUnavailable: without Docker or without the images,
// run and up say in one line what to do.
func TestContainersBackendUnavailable(t *testing.T) {
	useCatalogue(t, tiny(true))
	t.Run("image missing", func(t *testing.T) {
		t.Setenv("PIPECHAOS_KAFKA_IMAGE", "pipechaos/kafka:not-built")
		for _, args := range [][]string{{"run", "tiny", "--backend", "containers"}, {"up", "--backend", "containers"}} {
			code, _, errOut := pipechaos(t, args...)
			line := errorLine(t, errOut)
			// Where Docker is not reachable, that is what it says instead.
			if code != exitFail || !(strings.Contains(line, "image not present locally: pipechaos/kafka:not-built: run `make images`") ||
				strings.Contains(line, "Docker is not reachable")) {
				t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
			}
		}
	})
	t.Run("no docker", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
		code, _, errOut := pipechaos(t, "run", "tiny", "--backend", "containers")
		if line := errorLine(t, errOut); code != exitFail || !strings.Contains(line, "Docker is not reachable: start the engine (`docker info` must succeed) or use --backend embedded") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}

// TestRunOnContainers runs a scenario on the containers backend from the
// command line (skipped without Docker and the images; failed in CI).
func TestRunOnContainers(t *testing.T) {
	containers.RequireAvailable(t)
	useCatalogue(t, tiny(true))
	code, out, errOut := pipechaos(t, "run", "tiny", "--backend", "containers", "--variant", "buggy", "--seed", "42")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"scenario tiny (buggy connector) on the containers backend, seed 42", "primary region at 127.0.0.1:", "as expected: the harness caught the buggy connector"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout does not say %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "containers: environment") {
		t.Errorf("no progress line from the containers backend: %q", errOut)
	}
}

// TestUp starts `pipechaos up`, produces and consumes through the printed
// bootstrap servers, then cancels it like Ctrl-C.
func TestUp(t *testing.T) { testUp(t, env.Embedded) }

// TestUpOnContainers is TestUp on the containers backend (skipped without
// Docker and the images; failed in CI).
func TestUpOnContainers(t *testing.T) {
	containers.RequireAvailable(t)
	testUp(t, env.Containers)
}

func testUp(t *testing.T, backend string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	envFile := filepath.Join(t.TempDir(), "env")
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		defer pw.Close()
		done <- runContext(ctx, []string{"up", "--backend", backend, "--brokers", "1", "--topics", "events:2", "--env-file", envFile}, pw, &stderr)
	}()
	sc := bufio.NewScanner(pr)
	var printed []string
	addr := map[string]string{}
	for sc.Scan() {
		line := sc.Text()
		printed = append(printed, line)
		if f := strings.Fields(line); len(f) >= 3 && (f[0] == "kafka" || f[0] == "s3" || f[0] == "schema") {
			addr[f[0]+" "+f[1]] = f[2]
		}
		if line == "up; waiting for Ctrl-C" {
			break
		}
	}
	go io.Copy(io.Discard, pr) // drain the rest
	for _, k := range []string{"kafka primary", "kafka secondary", "schema registry", "s3 endpoint", "s3 access", "s3 secret", "s3 bucket"} {
		if addr[k] == "" {
			t.Errorf("up did not print %q:\n%s", k, strings.Join(printed, "\n"))
		}
	}
	vars, err := os.ReadFile(envFile)
	if err != nil || !strings.Contains(string(vars), "PIPECHAOS_PRIMARY_BOOTSTRAP=\""+addr["kafka primary"]+"\"") {
		t.Errorf("env file: %v\n%s", err, vars)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(addr["kafka primary"], ",")...), kgo.ConsumeTopics("events"), kgo.DefaultProduceTopic("events"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k1"), Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("produce to the printed bootstrap: %v", err)
	}
	var got string
	for got == "" {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = fmt.Sprintf("%s=%s", r.Key, r.Value) })
	}
	cl.Close()
	if got != "k1=hello" {
		t.Errorf("consumed %q", got)
	}
	cancel() // Ctrl-C
	if code := <-done; code != exitOK {
		t.Errorf("up exited %d after Ctrl-C; stderr:\n%s", code, stderr.String())
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Errorf("env file left behind after teardown: %v", err)
	}
}
