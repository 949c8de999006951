package httpfault

import (
	"net/http"
	"time"
)

// Fault describes how an HTTP fault layer misbehaves. The zero value is
// "no fault".
type Fault struct {
	// Status, if non-zero, answers matching requests with this HTTP status
	// (e.g. 503) instead of forwarding them.
	Status int
	// Code is the service's error code in the body: an S3 error code
	// ("SlowDown", "InternalError") or a registry error code ("50301").
	Code string
	// Latency delays every matching request before it is handled.
	Latency time.Duration
	// Hang holds matching requests until the client gives up (or the fault
	// heals), like a server that accepted the connection and died.
	Hang bool
	// Drop closes matching connections without an answer.
	Drop bool
	// Probability is the share of requests affected, in (0,1]; 0 means all.
	Probability float64
	// Methods restricts the fault to these HTTP methods; nil means all.
	Methods []string
}

// Stats counts requests through a fault layer.
type Stats struct {
	Requests  int64            `json:"requests"`
	ByMethod  map[string]int64 `json:"by_method"`
	Faulted   int64            `json:"faulted"`
	BytesIn   int64            `json:"bytes_in"`  // request bodies
	BytesOut  int64            `json:"bytes_out"` // response bodies
	Errors5xx int64            `json:"errors_5xx"`
}

// Exchange is one request through a layer and how it ended, as an observer
// sees it (Layer.Observe).
type Exchange struct {
	Method string
	// Path is the request's URL path (for path-style S3, "/bucket/key"),
	// Query its raw query ("uploadId=...&partNumber=3").
	Path, Query string
	// Header is a copy of the request's header.
	Header http.Header
	// Status is the status answered; 0 if the connection was dropped or
	// the client went away before an answer.
	Status int
	// Faulted: the active fault applied to the request.
	Faulted bool
	// BytesIn is the request body read, BytesOut the response body written.
	BytesIn, BytesOut int64
	// Start is when the layer received the request, End when it was done.
	Start, End time.Time
}
