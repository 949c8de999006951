package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

const contentType = "application/vnd.schemaregistry.v1+json"

// Error codes srfake's sr package does not name.
const (
	codeMalformed     = 400 // the body is not JSON
	codeUnprocessable = 422 // the body is JSON of the wrong shape
	codeTooLarge      = 413 // the body exceeds MaxBodyBytes
)

// handler enforces compatibility in front of srfake: it takes over the
// endpoints where compatibility matters and hands the rest to srfake.
type handler struct {
	fake    *srfake.Registry
	inner   http.Handler
	maxBody int64
	mux     *http.ServeMux

	// registerMu makes "check against the existing versions, then
	// register" atomic: two compatible-looking registrations must not both
	// pass against the same latest version.
	registerMu sync.Mutex
}

func newEnforcer(fake *srfake.Registry, maxBody int64) *handler {
	h := &handler{fake: fake, inner: fake.Handler(), maxBody: maxBody, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	h.mux.HandleFunc("POST /subjects/{subject}/versions", h.register)
	h.mux.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", h.compatibility)
	h.mux.HandleFunc("POST /compatibility/subjects/{subject}/versions", h.compatibility)
	h.mux.HandleFunc("GET /subjects/{subject}/versions/{version}", h.getVersion(""))
	h.mux.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", h.getVersion("/schema"))
	h.mux.HandleFunc("GET /subjects/{subject}/versions/{version}/referencedby", h.getVersion("/referencedby"))
	h.mux.HandleFunc("DELETE /subjects/{subject}/versions/{version}", h.deleteVersion)
	h.mux.HandleFunc("PUT /config", h.putConfig)
	h.mux.HandleFunc("PUT /config/{subject}", h.putConfig)
	h.mux.Handle("/", h.inner)
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
	}
	h.mux.ServeHTTP(w, r)
}

// apiError is an answer in Confluent's error shape.
type apiError struct {
	status int
	code   int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error_code": e.code, "message": e.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readSchema reads and decodes a schema request body. Errors: 413 for a
// body over the limit, 400 for a body that is not JSON, 422 for JSON of the
// wrong shape (unknown field, wrong type, trailing data).
func (h *handler) readSchema(r *http.Request) ([]byte, sr.Schema, *apiError) {
	var s sr.Schema
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, s, &apiError{http.StatusRequestEntityTooLarge, codeTooLarge,
				fmt.Sprintf("request body exceeds the limit of %d bytes", mbe.Limit)}
		}
		return nil, s, &apiError{http.StatusBadRequest, codeMalformed, fmt.Sprintf("read request body: %v", err)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, s, &apiError{http.StatusBadRequest, codeMalformed, fmt.Sprintf("malformed JSON request body: %v", err)}
		}
		return nil, s, &apiError{http.StatusUnprocessableEntity, codeUnprocessable, fmt.Sprintf("unprocessable request body: %v", err)}
	}
	if dec.More() {
		return nil, s, &apiError{http.StatusUnprocessableEntity, codeUnprocessable, "request body must contain one JSON object"}
	}
	return body, s, nil
}

// avroCandidate reads the schema a request carries. ok is false when the
// request is already answered: a bad body or invalid Avro got its error,
// a non-Avro schema was handed to srfake unchecked.
func (h *handler) avroCandidate(w http.ResponseWriter, r *http.Request) (body []byte, candidate avro.Schema, ok bool) {
	body, s, aerr := h.readSchema(r)
	if aerr != nil {
		writeError(w, aerr)
		return nil, nil, false
	}
	if s.Type != sr.TypeAvro {
		h.forward(w, r, body)
		return nil, nil, false
	}
	candidate, aerr = h.parse(s)
	if aerr != nil {
		writeError(w, aerr)
		return nil, nil, false
	}
	return body, candidate, true
}

// register is POST /subjects/{subject}/versions.
func (h *handler) register(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	body, candidate, ok := h.avroCandidate(w, r)
	if !ok {
		return
	}

	h.registerMu.Lock()
	defer h.registerMu.Unlock()

	// Registering a schema the subject already has returns its id, with
	// no compatibility check (as Confluent does).
	if rec := h.call(http.MethodPost, "/subjects/"+url.PathEscape(subject), body); rec.Code == http.StatusOK {
		h.forward(w, r, body)
		return
	}
	level, versions, aerr := h.subjectState(subject, true)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if !level.transitive() && len(versions) > 1 {
		versions = versions[len(versions)-1:]
	}
	if problems := h.check(level, candidate, versions); len(problems) > 0 {
		writeError(w, &apiError{http.StatusConflict, sr.ErrIncompatibleSchema.Code, fmt.Sprintf(
			"Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]",
			subject, strings.Join(problems, "; "))})
		return
	}
	h.forward(w, r, body)
}

// compatibility is POST /compatibility/subjects/{subject}/versions[/{version}].
func (h *handler) compatibility(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	version := r.PathValue("version")
	if version != "" {
		v, aerr := normalVersion(version)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		version = v
	}
	_, candidate, ok := h.avroCandidate(w, r)
	if !ok {
		return
	}

	var (
		lvl      level
		versions []sr.SubjectSchema
		aerr     *apiError
	)
	if version == "" {
		// Against the versions the level names; a subject with none is
		// compatible with anything.
		lvl, versions, aerr = h.subjectState(subject, true)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if !lvl.transitive() && len(versions) > 1 {
			versions = versions[len(versions)-1:]
		}
	} else {
		// Against the one version named, whatever the transitivity.
		if aerr := h.subjectMissing(subject); aerr != nil {
			writeError(w, aerr)
			return
		}
		rec := h.call(http.MethodGet, "/subjects/"+url.PathEscape(subject)+"/versions/"+url.PathEscape(version), nil)
		if rec.Code != http.StatusOK {
			copyRecorded(w, rec)
			return
		}
		var ss sr.SubjectSchema
		if err := json.Unmarshal(rec.Body.Bytes(), &ss); err != nil {
			writeError(w, &apiError{http.StatusInternalServerError, sr.ErrStoreError.Code, fmt.Sprintf("decode stored version: %v", err)})
			return
		}
		lvl, _, aerr = h.subjectState(subject, false)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		versions = []sr.SubjectSchema{ss}
	}
	problems := h.check(lvl, candidate, versions)
	resp := map[string]any{"is_compatible": len(problems) == 0}
	if r.URL.Query().Get("verbose") == "true" {
		if problems == nil {
			problems = []string{}
		}
		resp["messages"] = problems
	}
	writeJSON(w, http.StatusOK, resp)
}

// normalVersion reads a version as Confluent's server does: "latest" and
// -1 both mean the latest version (Confluent's clients send -1), and a
// number from 1 to 2^31-1 names one version; anything else is 42202. It
// returns the form srfake understands: "latest" or the decimal number.
func normalVersion(v string) (string, *apiError) {
	if v == "latest" || v == "-1" {
		return "latest", nil
	}
	if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 1 {
		return strconv.FormatInt(n, 10), nil
	}
	return "", &apiError{http.StatusUnprocessableEntity, sr.ErrInvalidVersion.Code,
		fmt.Sprintf("The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)}
}

// withVersion rewrites r's path to name version v (suffix follows it), for
// srfake, which reads the version from the path again.
func withVersion(r *http.Request, subject, v, suffix string) {
	r.URL.Path = "/subjects/" + subject + "/versions/" + v + suffix
	r.URL.RawPath = "/subjects/" + url.PathEscape(subject) + "/versions/" + v + suffix
}

// getVersion is GET /subjects/{subject}/versions/{version}[suffix]: the
// version in any form Confluent accepts (normalVersion); and where srfake
// answers "version not found" (40402) for a subject that does not exist,
// Confluent answers "subject not found" (40401).
func (h *handler) getVersion(suffix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		subject := r.PathValue("subject")
		v, aerr := normalVersion(r.PathValue("version"))
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if r.URL.Query().Get("deleted") != "true" {
			if aerr := h.subjectMissing(subject); aerr != nil {
				writeError(w, aerr)
				return
			}
		}
		withVersion(r, subject, v, suffix)
		h.inner.ServeHTTP(w, r)
	}
}

// deleteVersion is DELETE /subjects/{subject}/versions/{version}: srfake
// takes only a number, Confluent also "latest" and -1 (the latest live
// version).
func (h *handler) deleteVersion(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	v, aerr := normalVersion(r.PathValue("version"))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if v == "latest" {
		rec := h.call(http.MethodGet, "/subjects/"+url.PathEscape(subject)+"/versions", nil)
		var nums []int
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &nums) != nil || len(nums) == 0 {
			writeError(w, &apiError{http.StatusNotFound, sr.ErrSubjectNotFound.Code, fmt.Sprintf("subject %q not found", subject)})
			return
		}
		v = strconv.Itoa(slices.Max(nums))
	}
	withVersion(r, subject, v, "")
	h.inner.ServeHTTP(w, r)
}

// subjectMissing returns the Confluent 40401 error if subject has no live
// version (a subject with only a config has none either).
func (h *handler) subjectMissing(subject string) *apiError {
	rec := h.call(http.MethodGet, "/subjects/"+url.PathEscape(subject)+"/versions", nil)
	var nums []int
	if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &nums) == nil && len(nums) > 0 {
		return nil
	}
	return &apiError{http.StatusNotFound, sr.ErrSubjectNotFound.Code, fmt.Sprintf("subject %q not found", subject)}
}

// putConfig is PUT /config and PUT /config/{subject}: srfake would store an
// unknown or missing level, so it is refused here.
func (h *handler) putConfig(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			writeError(w, &apiError{http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", mbe.Limit)})
			return
		}
		writeError(w, &apiError{http.StatusBadRequest, codeMalformed, fmt.Sprintf("read request body: %v", err)})
		return
	}
	var cfg struct {
		Compatibility *string `json:"compatibility"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, codeMalformed, fmt.Sprintf("malformed JSON request body: %v", err)})
		return
	}
	if cfg.Compatibility == nil {
		writeError(w, &apiError{http.StatusUnprocessableEntity, sr.ErrInvalidCompatibilityLevel.Code,
			"compatibility level is missing; valid levels are " + levelNames})
		return
	}
	var l sr.CompatibilityLevel
	if err := l.UnmarshalText([]byte(*cfg.Compatibility)); err != nil {
		writeError(w, &apiError{http.StatusUnprocessableEntity, sr.ErrInvalidCompatibilityLevel.Code,
			fmt.Sprintf("invalid compatibility level %q; valid levels are %s", *cfg.Compatibility, levelNames)})
		return
	}
	h.forward(w, r, body)
}

// subjectState returns the subject's effective level and, if withVersions,
// its live versions oldest first. An unknown subject has no versions.
func (h *handler) subjectState(subject string, withVersions bool) (level, []sr.SubjectSchema, *apiError) {
	rec := h.call(http.MethodGet, "/config/"+url.PathEscape(subject), nil)
	var cfg struct {
		Level sr.CompatibilityLevel `json:"compatibilityLevel"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &cfg) != nil {
		return 0, nil, &apiError{http.StatusInternalServerError, sr.ErrStoreError.Code,
			fmt.Sprintf("read compatibility level of %q: %s", subject, rec.Body.String())}
	}
	if !withVersions {
		return level(cfg.Level), nil, nil
	}
	rec = h.call(http.MethodGet, "/subjects/"+url.PathEscape(subject)+"/versions", nil)
	if rec.Code == http.StatusNotFound {
		return level(cfg.Level), nil, nil
	}
	var nums []int
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &nums) != nil {
		return 0, nil, &apiError{http.StatusInternalServerError, sr.ErrStoreError.Code,
			fmt.Sprintf("list versions of %q: %s", subject, rec.Body.String())}
	}
	var out []sr.SubjectSchema
	for _, v := range nums { // srfake lists them sorted
		if ss, ok := h.fake.GetSchema(subject, v); ok {
			out = append(out, ss)
		}
	}
	return level(cfg.Level), out, nil
}

// call runs a request through srfake in process.
func (h *handler) call(method, path string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.inner.ServeHTTP(rec, req)
	return rec
}

// forward hands r, with its already read body, to srfake.
func (h *handler) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	h.inner.ServeHTTP(w, r)
}

func copyRecorded(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
