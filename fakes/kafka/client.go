package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ControlClient talks to a Cluster's Handler over HTTP.
type ControlClient struct {
	base string
	hc   *http.Client
}

// NewControlClient returns a client for the control API at baseURL
// (e.g. "http://127.0.0.1:9644"). Close releases its idle connections.
func NewControlClient(baseURL string) *ControlClient {
	return &ControlClient{
		base: strings.TrimRight(baseURL, "/"),
		hc:   &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second},
	}
}

// Close releases idle connections.
func (c *ControlClient) Close() { c.hc.CloseIdleConnections() }

// Healthz returns nil once the cluster serves.
func (c *ControlClient) Healthz(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
}

// CrashBroker, RestartBroker, Isolate and Reconnect drive one broker.
func (c *ControlClient) CrashBroker(ctx context.Context, node int32) error {
	return c.broker(ctx, node, "crash")
}

// RestartBroker brings a crashed broker back on its port.
func (c *ControlClient) RestartBroker(ctx context.Context, node int32) error {
	return c.broker(ctx, node, "restart")
}

// Isolate cuts one broker off.
func (c *ControlClient) Isolate(ctx context.Context, node int32) error {
	return c.broker(ctx, node, "isolate")
}

// Reconnect undoes Isolate.
func (c *ControlClient) Reconnect(ctx context.Context, node int32) error {
	return c.broker(ctx, node, "reconnect")
}

// PauseBroker holds every request the broker receives.
func (c *ControlClient) PauseBroker(ctx context.Context, node int32) error {
	return c.broker(ctx, node, "pause")
}

// UnpauseBroker undoes PauseBroker.
func (c *ControlClient) UnpauseBroker(ctx context.Context, node int32) error {
	return c.broker(ctx, node, "unpause")
}

func (c *ControlClient) broker(ctx context.Context, node int32, action string) error {
	return c.do(ctx, http.MethodPost, fmt.Sprintf("/brokers/%d/%s", node, action), nil, nil)
}

// InjectFault installs a fault and returns its id.
func (c *ControlClient) InjectFault(ctx context.Context, f Fault) (string, error) {
	var r idResp
	err := c.do(ctx, http.MethodPost, "/faults", f, &r)
	return r.ID, err
}

// RemoveFault uninstalls a fault.
func (c *ControlClient) RemoveFault(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/faults/"+id, nil, nil)
}

// SlowRequests installs a delay and returns its id.
func (c *ControlClient) SlowRequests(ctx context.Context, s Slow) (string, error) {
	var r idResp
	err := c.do(ctx, http.MethodPost, "/slow", s, &r)
	return r.ID, err
}

// RemoveSlow removes a delay.
func (c *ControlClient) RemoveSlow(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/slow/"+id, nil, nil)
}

func (c *ControlClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("kafka control %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		hint := ""
		if resp.StatusCode == http.StatusNotFound {
			hint = " (an image older than this code? run `make images`)"
		}
		return fmt.Errorf("kafka control %s %s: %s: %s%s", method, path, resp.Status, strings.TrimSpace(string(msg)), hint)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}
