package harness

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/history"
)

// StoreProcess is the history's Process of the sink writes the harness
// observed at the store.
const StoreProcess = "store"

// observeStoreWrites records in h, as SinkWrite events, every object write
// the store's fault layer completed: a PUT of an object, or the completion
// of a multipart upload (its bytes are the sum of its parts). Only writes
// the store accepted (2xx) count; a write the store refused is in the
// layer's counters, not here. The event's Object is the key, Bytes the body
// the store received, At when the store answered; Records is left 0 (the
// object's content is read from the bucket, see ObjectRecords).
//
// This is how the harness learns what a sink wrote: at the store, from
// outside, whichever sink it is. ok is false if the backend's store layer
// cannot be observed.
func observeStoreWrites(st env.Store, h *history.History) (stop func(), ok bool) {
	obs, ok := st.Faults().(env.HTTPObserver)
	if !ok {
		return func() {}, false
	}
	w := &writeLog{h: h, bucket: "/" + st.Bucket() + "/", parts: map[string]int64{}}
	return obs.Observe(w.exchange), true
}

type writeLog struct {
	h      *history.History
	bucket string

	mu    sync.Mutex
	parts map[string]int64 // bytes of the parts uploaded so far, by upload ID
}

func (w *writeLog) exchange(x env.HTTPExchange) {
	key, inBucket := strings.CutPrefix(x.Path, w.bucket)
	if !inBucket || key == "" {
		return
	}
	q, err := url.ParseQuery(x.Query)
	if err != nil {
		return
	}
	ok := x.Status >= 200 && x.Status < 300
	n := x.BytesIn
	// An aws-chunked body (minio-go's streaming signature) carries chunk
	// signatures; the object's size is in the decoded length.
	if d, err := strconv.ParseInt(x.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64); err == nil {
		n = d
	}
	upload := q.Get("uploadId")
	switch {
	case x.Method == http.MethodPut && upload != "":
		if ok {
			w.mu.Lock()
			w.parts[upload] += n
			w.mu.Unlock()
		}
	case x.Method == http.MethodPut:
		if ok {
			w.h.Append(history.Event{At: x.End, Type: history.SinkWrite, Process: StoreProcess, Object: key, Bytes: n})
		}
	case x.Method == http.MethodPost && upload != "":
		w.mu.Lock()
		total := w.parts[upload]
		if ok {
			delete(w.parts, upload)
		}
		w.mu.Unlock()
		if ok {
			w.h.Append(history.Event{At: x.End, Type: history.SinkWrite, Process: StoreProcess, Object: key, Bytes: total})
		}
	case x.Method == http.MethodDelete && upload != "":
		w.mu.Lock()
		delete(w.parts, upload)
		w.mu.Unlock()
	}
}
