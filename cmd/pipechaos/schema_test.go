package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// registry answers compatibility checks like a Confluent registry that
// compares against "latest" and explains itself only when asked (verbose).
func registry(t *testing.T, status int, body any) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/compatibility/subjects/events-value/versions/latest" {
			http.Error(w, `{"error_code":404,"message":"unexpected `+r.Method+" "+r.URL.Path+`"}`, http.StatusNotFound)
			return
		}
		if r.URL.Query().Get("verbose") != "true" {
			t.Errorf("the check did not ask for verbose reasons: %s", r.URL)
		}
		var req struct {
			Schema     string `json:"schema"`
			SchemaType string `json:"schemaType"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !strings.Contains(req.Schema, `"Event"`) {
			t.Errorf("the request does not carry the schema file: %v %q", err, req.Schema)
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func schemaFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "event.avsc")
	os.WriteFile(p, []byte(`{"type":"record","name":"Event","fields":[{"name":"id","type":"long"},{"name":"site","type":"string"}]}`), 0o644)
	return p
}

func TestSchemaCheck(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     any
		code     int
		stdout   []string
		stderrIs string
	}{
		{"incompatible, with reasons", 200,
			map[string]any{"is_compatible": false, "messages": []string{"READER_FIELD_MISSING_DEFAULT_VALUE: site", "{oldSchemaVersion: 3}"}},
			exitFail, []string{"is_compatible: false", "  - READER_FIELD_MISSING_DEFAULT_VALUE: site", "  - {oldSchemaVersion: 3}"}, "is not compatible with subject events-value"},
		{"compatible", 200, map[string]any{"is_compatible": true, "messages": []string{}}, exitOK, []string{"is_compatible: true"}, ""},
		{"new subject", 404, map[string]any{"error_code": 40401, "message": "Subject 'events-value' not found."}, exitOK,
			[]string{"is_compatible: true", "does not exist yet"}, ""},
		{"unparsable schema", 422, map[string]any{"error_code": 42201, "message": "Invalid schema"}, exitFail, nil, "cannot parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := registry(t, tt.status, tt.body)
			code, out, errOut := pipechaos(t, "schema", "check", "--registry", srv.URL, "--subject", "events-value", "--schema", schemaFile(t))
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout does not say %q:\n%s", want, out)
				}
			}
			if tt.stderrIs != "" && !strings.Contains(errorLine(t, errOut), tt.stderrIs) {
				t.Errorf("stderr %q: want one line saying %q", errOut, tt.stderrIs)
			}
		})
	}
}

func TestSchemaCheckRegistryDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	code, _, errOut := pipechaos(t, "schema", "check", "--registry", url, "--subject", "events-value", "--schema", schemaFile(t))
	if code != exitFail || !strings.Contains(errorLine(t, errOut), "is the registry up?") {
		t.Errorf("exit %d, stderr %q: want one line saying the registry did not answer", code, errOut)
	}
}
