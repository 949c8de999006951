package httpfault

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// NewProxy returns a layer in front of a remote server: a reverse proxy to
// target (scheme, host and optional base path). The containers backend puts
// one in front of MinIO and one in front of the registry container.
//
// The inbound Host header is kept on the outbound request: S3 clients sign
// it (SigV4), so rewriting it to the target's address would break every
// signature. When target is unreachable the layer answers 502 in the
// dialect of ErrorBody.
func NewProxy(target *url.URL, opts ...Opt) *Layer {
	transport := &http.Transport{
		Proxy:                 nil, // never route the harness through an environment proxy
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		Transport: transport,
	}
	l := New(rp, opts...)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, _ error) {
		f := Fault{Status: http.StatusBadGateway}
		ct, body := l.errorBody(f, r)
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write(body)
	}
	l.closeIdle = transport.CloseIdleConnections
	return l
}

// CloseIdleConnections closes the idle connections a proxy layer keeps to
// its target. It does nothing for a layer made by New.
func (l *Layer) CloseIdleConnections() {
	if l.closeIdle != nil {
		l.closeIdle()
	}
}
