package containers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Readiness is checked on the 127.0.0.1 host port, where this process
// reaches the container, not on testcontainers' idea of the Docker host
// (it picks the bridge gateway when the test runs inside a container,
// where nothing of ours is published).

const readyPoll = 25 * time.Millisecond

// httpReady waits until GET http://127.0.0.1:port+path answers 2xx.
type httpReady struct {
	port    int
	path    string
	timeout time.Duration
}

var _ wait.Strategy = (*httpReady)(nil)

func (s *httpReady) String() string {
	return fmt.Sprintf("HTTP GET http://%s:%d%s", loopback, s.port, s.path)
}

func (s *httpReady) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Second}
	url := fmt.Sprintf("http://%s:%d%s", loopback, s.port, s.path)
	return poll(ctx, target, s.timeout, s.String(), func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	})
}

// kafkaReady waits until the broker at 127.0.0.1:port answers a Kafka
// request (a TCP connect alone proves nothing: Docker's proxy accepts
// before the broker listens).
type kafkaReady struct {
	port    int
	timeout time.Duration
}

var _ wait.Strategy = (*kafkaReady)(nil)

func (s *kafkaReady) String() string { return fmt.Sprintf("Kafka API on %s:%d", loopback, s.port) }

func (s *kafkaReady) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(fmt.Sprintf("%s:%d", loopback, s.port)), kgo.DialTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	return poll(ctx, target, s.timeout, s.String(), cl.Ping)
}

// poll runs check until it succeeds, the container stops running, or
// timeout.
func poll(ctx context.Context, target wait.StrategyTarget, timeout time.Duration, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	for i := 0; ; i++ {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		err := check(cctx)
		ccancel()
		if err == nil {
			return nil
		}
		if i%20 == 19 { // every half second: fail fast when the container died
			if st, serr := target.State(ctx); serr == nil && !st.Running {
				return fmt.Errorf("wait for %s: container is %s (exit code %d); its last output:\n%s", what, st.Status, st.ExitCode, logTail(ctx, target, 15))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %v)", what, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// logTail is the last n lines of a container's output, for an error.
func logTail(ctx context.Context, target wait.StrategyTarget, n int) string {
	rc, err := target.Logs(ctx)
	if err != nil {
		return fmt.Sprintf("(logs unavailable: %v)", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4<<20))
	if err != nil && len(b) == 0 {
		return fmt.Sprintf("(logs unavailable: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
