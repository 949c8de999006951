package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStandaloneMainStartsAnswersAndStopsOnSIGTERM builds the main as the
// container image will (static, CGO_ENABLED=0), runs it, registers a
// schema through franz-go's client, and stops it with SIGTERM: exit 0.
func TestStandaloneMainStartsAnswersAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "pipechaos-registry")
	build := exec.CommandContext(t.Context(), goBin, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	cmd := exec.Command(bin, "-compatibility", "FULL")
	cmd.Env = append(os.Environ(), "PIPECHAOS_REGISTRY_LISTEN=127.0.0.1:0")
	// An io.Pipe rather than StdoutPipe: Wait then returns only after the
	// last log line has been handed over, so "shutdown complete" is not lost.
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	var waitErr error
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		_ = pw.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	// Read the log: the listening line names the address.
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	addrRE := regexp.MustCompile(`msg="registry listening" addr=(\S+) compatibility=FULL`)
	var addr string
	deadline := time.After(30 * time.Second)
	for addr == "" {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "the registry exited before listening")
			if m := addrRE.FindStringSubmatch(l); m != nil {
				addr = m[1]
			}
		case <-deadline:
			t.Fatal("the registry did not log its address")
		}
	}
	base := "http://" + addr

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	resp, err := hc.Get(base + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ok", string(body))

	cl, err := sr.NewClient(sr.URLs(base), sr.HTTPClient(hc))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = cl.CreateSchema(ctx, "main", sr.Schema{Schema: `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`})
	require.NoError(t, err)
	// FULL, from the flag: a required field added is rejected.
	_, err = cl.CreateSchema(ctx, "main", sr.Schema{Schema: `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}`})
	var re *sr.ResponseError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 409, re.ErrorCode)
	tr.CloseIdleConnections()

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	<-exited
	require.NoError(t, waitErr, "exit status after SIGTERM; log:\n%s", strings.Join(rest, "\n"))
	assert.Equal(t, 0, cmd.ProcessState.ExitCode())
	assert.Contains(t, strings.Join(rest, "\n"), "shutdown complete")
}
