package kafkaproxy

// KeyStats counts the requests of one API key through the proxy.
type KeyStats struct {
	// Seen is every request read from a client.
	Seen int64 `json:"seen"`
	// Faulted is the requests some rule acted on (held, answered, or both).
	Faulted int64 `json:"faulted"`
	// Answered is the requests the proxy answered in the broker's place
	// (never forwarded).
	Answered int64 `json:"answered"`
}

// Stats counts what went through the proxy since it started.
type Stats struct {
	// ByKey is per API key.
	ByKey map[int16]KeyStats `json:"by_key"`
	// ByNode is per broker (node id), every key together.
	ByNode map[int32]KeyStats `json:"by_node"`
	// Conns is the client connections accepted.
	Conns int64 `json:"conns"`
	// DialErrors is the client connections closed because their broker
	// could not be reached.
	DialErrors int64 `json:"dial_errors"`
	// Unparsed is the requests kmsg could not read (relayed untouched; no
	// rule sees them).
	Unparsed int64 `json:"unparsed"`
}

// Key is the counts of one API key (zero when none was seen).
func (s Stats) Key(key int16) KeyStats { return s.ByKey[key] }

// Stats returns a snapshot of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.ByKey = make(map[int16]KeyStats, len(p.stats.ByKey))
	for k, v := range p.stats.ByKey {
		s.ByKey[k] = v
	}
	s.ByNode = make(map[int32]KeyStats, len(p.stats.ByNode))
	for n, v := range p.stats.ByNode {
		s.ByNode[n] = v
	}
	return s
}

// Node is the counts of one broker (zero when it saw no request).
func (s Stats) Node(id int32) KeyStats { return s.ByNode[id] }

func (ks *KeyStats) add(faulted, answered bool) {
	ks.Seen++
	if faulted {
		ks.Faulted++
	}
	if answered {
		ks.Answered++
	}
}

// countLocked records one request. Called with p.mu held.
func (p *Proxy) countLocked(node int32, key int16, faulted, answered bool) {
	ks := p.stats.ByKey[key]
	ks.add(faulted, answered)
	p.stats.ByKey[key] = ks
	ns := p.stats.ByNode[node]
	ns.add(faulted, answered)
	p.stats.ByNode[node] = ns
}
