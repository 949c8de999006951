package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Connector and task states, as GET /connectors/{name}/status reports them.
const (
	Unassigned = "UNASSIGNED"
	Running    = "RUNNING"
	Paused     = "PAUSED"
	Failed     = "FAILED"
	Restarting = "RESTARTING"
	Stopped    = "STOPPED"
)

// State is one connector's or task's state.
type State struct {
	State    string `json:"state"`
	WorkerID string `json:"worker_id"`
	// Trace is the stack trace of a FAILED connector or task, as the worker
	// reports it.
	Trace string `json:"trace,omitempty"`
}

// TaskState is one task's state.
type TaskState struct {
	ID int `json:"id"`
	State
}

// Status is GET /connectors/{name}/status.
type Status struct {
	Name      string      `json:"name"`
	Connector State       `json:"connector"`
	Tasks     []TaskState `json:"tasks"`
	Type      string      `json:"type"`
}

// Failed lists the failed tasks.
func (s Status) Failed() []TaskState {
	var out []TaskState
	for _, t := range s.Tasks {
		if t.State.State == Failed {
			out = append(out, t)
		}
	}
	return out
}

// AllRunning reports whether the connector and at least one task are
// RUNNING and no task is in another state.
func (s Status) AllRunning() bool {
	if s.Connector.State != Running || len(s.Tasks) == 0 {
		return false
	}
	for _, t := range s.Tasks {
		if t.State.State != Running {
			return false
		}
	}
	return true
}

func (s Status) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connector %s %s", s.Name, s.Connector.State)
	for _, t := range s.Tasks {
		fmt.Fprintf(&b, ", task %d %s", t.ID, t.State.State)
	}
	return b.String()
}

// APIError is a REST call the worker answered with an error status.
type APIError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("connect: %s %s: %d %s", e.Method, e.Path, e.Status, e.Message)
}

// do calls the REST API; a 409 (a rebalance is in progress) is retried
// until ctx ends.
func (w *Worker) do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("connect: encode %s %s: %w", method, path, err)
		}
	}
	for {
		req, err := http.NewRequestWithContext(ctx, method, w.url+path, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := w.client.Do(req)
		if err != nil {
			return fmt.Errorf("connect: %s %s: %w", method, path, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("connect: %s %s: read answer: %w", method, path, err)
		}
		if resp.StatusCode >= 300 {
			var msg struct {
				Message string `json:"message"`
			}
			_ = json.Unmarshal(data, &msg)
			if msg.Message == "" {
				msg.Message = strings.TrimSpace(string(data))
			}
			e := &APIError{Method: method, Path: path, Status: resp.StatusCode, Message: msg.Message}
			if resp.StatusCode == http.StatusConflict {
				select {
				case <-ctx.Done():
					return errors.Join(e, ctx.Err())
				case <-time.After(250 * time.Millisecond):
					continue
				}
			}
			return e
		}
		if out != nil && len(data) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("connect: %s %s: decode %q: %w", method, path, tail(string(data), 3), err)
			}
		}
		return nil
	}
}

// PutConnector creates or reconfigures the connector name with config
// (PUT /connectors/{name}/config).
func (w *Worker) PutConnector(ctx context.Context, name string, config map[string]string) error {
	return w.do(ctx, http.MethodPut, "/connectors/"+url.PathEscape(name)+"/config", config, nil)
}

// DeleteConnector removes the connector (DELETE /connectors/{name}).
func (w *Worker) DeleteConnector(ctx context.Context, name string) error {
	return w.do(ctx, http.MethodDelete, "/connectors/"+url.PathEscape(name), nil, nil)
}

// Status reads the connector's state (GET /connectors/{name}/status).
func (w *Worker) Status(ctx context.Context, name string) (Status, error) {
	var s Status
	err := w.do(ctx, http.MethodGet, "/connectors/"+url.PathEscape(name)+"/status", nil, &s)
	return s, err
}

// RestartConnector restarts the connector and its failed tasks
// (POST /connectors/{name}/restart?includeTasks=true&onlyFailed=true).
func (w *Worker) RestartConnector(ctx context.Context, name string) error {
	return w.do(ctx, http.MethodPost, "/connectors/"+url.PathEscape(name)+"/restart?includeTasks=true&onlyFailed=true", nil, nil)
}

// Plugins lists the connector plugins the worker loaded
// (GET /connector-plugins?connectorsOnly=false): class names.
func (w *Worker) Plugins(ctx context.Context) ([]string, error) {
	var ps []struct {
		Class string `json:"class"`
	}
	if err := w.do(ctx, http.MethodGet, "/connector-plugins?connectorsOnly=false", nil, &ps); err != nil {
		return nil, err
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Class
	}
	return out, nil
}

// WaitStatus polls the connector's status until cond holds, the worker
// ends, or ctx is done; it returns the last status read. A connector not
// created yet (404) is polled on.
func (w *Worker) WaitStatus(ctx context.Context, name string, cond func(Status) bool) (Status, error) {
	var last Status
	var lastErr error
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := w.Status(ctx, name)
		if err == nil {
			last, lastErr = s, nil
			if cond(s) {
				return s, nil
			}
		} else {
			lastErr = err
		}
		select {
		case <-w.Done():
			e, _ := w.Exited()
			return last, fmt.Errorf("connect: the worker ended (%s) while waiting on %s (last: %s)", e, name, last)
		case <-ctx.Done():
			if lastErr != nil {
				return last, errors.Join(ctx.Err(), lastErr)
			}
			return last, fmt.Errorf("connect: %s: still %s: %w", name, last, ctx.Err())
		case <-tick.C:
		}
	}
}
