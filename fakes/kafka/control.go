package kafka

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Handler serves the control API of c:
//
//	GET    /healthz                      200 once the cluster is serving
//	GET    /brokers                      {"brokers":[0,1,2],"addrs":["127.0.0.1:9092",...]}
//	POST   /brokers/{node}/crash         remove the broker (listener and connections close)
//	POST   /brokers/{node}/restart       add it back on its port
//	POST   /brokers/{node}/isolate       close its connections, refuse new ones
//	POST   /brokers/{node}/reconnect     accept connections again
//	POST   /brokers/{node}/pause         hold every request it receives
//	POST   /brokers/{node}/unpause       answer them again
//	POST   /faults   body Fault          {"id":"..."}
//	DELETE /faults/{id}
//	POST   /slow     body Slow           {"id":"..."}
//	DELETE /slow/{id}
//
// Errors are answered with a non-2xx status and a plain-text sentence.
func Handler(c *Cluster) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /brokers", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, brokersResp{Brokers: c.Brokers(), Addrs: c.Addrs()})
	})
	mux.HandleFunc("POST /brokers/{node}/{action}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("node"), 10, 32)
		if err != nil {
			http.Error(w, "node must be an integer", http.StatusBadRequest)
			return
		}
		node := int32(n)
		var fn func(int32) error
		switch r.PathValue("action") {
		case "crash":
			fn = c.CrashBroker
		case "restart":
			fn = c.RestartBroker
		case "isolate":
			fn = c.Isolate
		case "reconnect":
			fn = c.Reconnect
		case "pause":
			fn = c.PauseBroker
		case "unpause":
			fn = c.UnpauseBroker
		default:
			http.Error(w, "unknown action "+r.PathValue("action"), http.StatusNotFound)
			return
		}
		if err := fn(node); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(w, "decode fault: "+err.Error(), http.StatusBadRequest)
			return
		}
		id, err := c.InjectFault(f)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, idResp{ID: id})
	})
	mux.HandleFunc("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		c.RemoveFault(r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /slow", func(w http.ResponseWriter, r *http.Request) {
		var s Slow
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			http.Error(w, "decode slow: "+err.Error(), http.StatusBadRequest)
			return
		}
		id, err := c.SlowRequests(s)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, idResp{ID: id})
	})
	mux.HandleFunc("DELETE /slow/{id}", func(w http.ResponseWriter, r *http.Request) {
		c.RemoveSlow(r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

type brokersResp struct {
	Brokers []int32  `json:"brokers"`
	Addrs   []string `json:"addrs"`
}

type idResp struct {
	ID string `json:"id"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
