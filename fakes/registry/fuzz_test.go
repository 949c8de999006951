package registry_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/pipechaos/pipechaos/fakes/registry"
)

// FuzzRegister throws arbitrary subjects and bodies at
// POST /subjects/{subject}/versions of a registry that already holds one
// version, under every compatibility level. Whatever comes in, the answer
// is one of the documented statuses with a Confluent error body (never a
// 5xx, never a panic), and the registry keeps serving.
//
//	go test -run '^$' -fuzz FuzzRegister -fuzztime 60s ./fakes/registry
func FuzzRegister(f *testing.F) {
	f.Add(uint8(1), "s", []byte(`{"schema":"\"string\""}`))
	f.Add(uint8(2), "s", []byte(`{"schema":`+quote(user(`{"name":"email","type":"string"}`))+`}`))
	f.Add(uint8(3), "s", []byte(`{"schema":`+quote(user(`{"name":"email","type":["null","string"],"default":null}`))+`}`))
	f.Add(uint8(6), "s", []byte(`{"schema":`+quote(user(`{"name":"status","type":{"type":"enum","name":"S","symbols":["A"],"default":"A"}}`))+`}`))
	f.Add(uint8(4), "other", []byte(`{"schema":"{\"type\":\"array\",\"items\":{\"type\":\"map\",\"values\":\"long\"}}"}`))
	f.Add(uint8(0), "s", []byte(`{"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"r\",\"type\":[\"null\",\"R\"]}]}"}`))
	f.Add(uint8(5), "s", []byte(`{"schema":"x","schemaType":"JSON"}`))
	f.Add(uint8(7), "s", []byte(`{"schema":"\"int\"","references":[{"name":"a","subject":"s","version":1}]}`))
	f.Add(uint8(1), "", []byte(`{`))
	f.Add(uint8(1), "s/../x", []byte(`[]`))

	base := []byte(`{"schema":` + quote(user()) + `}`)
	levels := []sr.CompatibilityLevel{sr.CompatNone, sr.CompatBackward, sr.CompatBackwardTransitive,
		sr.CompatForward, sr.CompatForwardTransitive, sr.CompatFull, sr.CompatFullTransitive}

	f.Fuzz(func(t *testing.T, level uint8, subject string, body []byte) {
		h, err := registry.NewHandler(registry.Compatibility(levels[int(level)%len(levels)]))
		if err != nil {
			t.Fatal(err)
		}
		if code, b := post(h, "/subjects/s/versions", base); code != 200 {
			t.Fatalf("seed registration: %d %s", code, b)
		}

		code, b := post(h, "/subjects/"+url.PathEscape(subject)+"/versions", body)
		switch code {
		case 200:
			var ok struct{ ID int }
			if err := json.Unmarshal(b, &ok); err != nil || ok.ID <= 0 {
				t.Fatalf("200 without an id: %s", b)
			}
		case 301, 307, 308:
			// ServeMux redirects paths that are not clean, which an
			// empty, "." or ".." subject makes ("/subjects//versions").
		case 400, 404, 409, 413, 422:
			var e struct {
				Code int    `json:"error_code"`
				Msg  string `json:"message"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Code == 0 || e.Msg == "" {
				t.Fatalf("%d without a Confluent error body: %s", code, b)
			}
		default:
			t.Fatalf("unexpected status %d: %s", code, b)
		}

		if code, b := get(h, "/subjects/s/versions/1"); code != 200 {
			t.Fatalf("registry stopped serving: %d %s", code, b)
		}
	})
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func post(h http.Handler, path string, body []byte) (int, []byte) {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func get(h http.Handler, path string) (int, []byte) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// FuzzRequests throws arbitrary methods, paths and bodies at every route of
// a registry holding one version: whatever the request, the registry
// answers without a panic and without a 5xx, every error carries a
// Confluent error body, and it keeps serving the version it holds.
//
//	go test -run '^$' -fuzz FuzzRequests -fuzztime 60s -parallel 1 ./fakes/registry
func FuzzRequests(f *testing.F) {
	body := []byte(`{"schema":` + quote(user()) + `}`)
	for _, s := range []struct {
		method uint8
		path   string
		body   []byte
	}{
		{0, "/subjects", nil},
		{0, "/subjects/s/versions", nil},
		{0, "/subjects/s/versions/latest", nil},
		{0, "/subjects/s/versions/-1/schema", nil},
		{0, "/schemas/ids/1", nil},
		{0, "/schemas/ids/99999999999999999999", nil},
		{0, "/schemas/ids/1/versions", nil},
		{1, "/subjects/s", body},
		{1, "/subjects/s/versions", body},
		{1, "/compatibility/subjects/s/versions/latest", body},
		{1, "/compatibility/subjects/s/versions/1", []byte(`{"schema":"\"int\""}`)},
		{2, "/config", []byte(`{"compatibility":"FULL"}`)},
		{2, "/config/s", []byte(`{"compatibility":"NOPE"}`)},
		{3, "/subjects/s/versions/1", nil},
		{3, "/subjects/s?permanent=true", nil},
		{0, "/mode", nil},
		{0, "/%zz", nil},
		{1, "/subjects/s/versions", []byte(`{"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}}]}"}`)},
	} {
		f.Add(s.method, s.path, s.body)
	}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodPatch}
	f.Fuzz(func(t *testing.T, method uint8, path string, body []byte) {
		h, err := registry.NewHandler()
		if err != nil {
			t.Fatal(err)
		}
		if code, b := post(h, "/subjects/s/versions", []byte(`{"schema":`+quote(user())+`}`)); code != 200 {
			t.Fatalf("seed registration: %d %s", code, b)
		}
		req, err := http.NewRequest(methods[int(method)%len(methods)], "http://registry"+path, bytes.NewReader(body))
		if err != nil || req.URL.Host != "registry" {
			return // not a request a client could send
		}
		u := req.URL
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", req.Method, u.RequestURI(), rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 && req.Method != http.MethodHead {
			var e struct {
				Code int    `json:"error_code"`
				Msg  string `json:"message"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == 0 || e.Msg == "" {
				// ServeMux's own 404/405 for paths no route takes are plain text.
				if !bytes.Contains(rec.Body.Bytes(), []byte("404 page not found")) && !bytes.Contains(rec.Body.Bytes(), []byte("Method Not Allowed")) {
					t.Fatalf("%s %s: %d without a Confluent error body: %q", req.Method, u.RequestURI(), rec.Code, rec.Body.Bytes())
				}
			}
		}
		if code, b := get(h, "/subjects/s/versions/1"); code != 200 && !deleted(req.Method, u.Path) {
			t.Fatalf("registry stopped serving after %s %s: %d %s", req.Method, u.RequestURI(), code, b)
		}
	})
}

// deleted reports whether a request may have removed the seeded version
// (a DELETE of the subject or its version) or changed what it answers
// under (a compatibility or mode change cannot).
func deleted(method, path string) bool {
	return method == http.MethodDelete && strings.HasPrefix(path, "/subjects/")
}
