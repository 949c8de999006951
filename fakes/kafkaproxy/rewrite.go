package kafkaproxy

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Responses the proxy changes on their way to the client, by key (and the
// first version that can need it):
//
//   - every response that names brokers (Metadata, FindCoordinator,
//     DescribeCluster, the leader hints of Produce v10+ and Fetch v16+,
//     ShareFetch, ShareAcknowledge) gets each broker's address replaced by
//     the proxy's listener for that node id, so a client never learns a
//     broker's own address;
//   - ApiVersions has each API's MaxVersion capped at the newest version
//     kmsg can parse, so every request the client then sends is one the
//     proxy can read;
//   - Metadata also teaches the proxy topic IDs, to match topic rules on
//     requests that name topics by ID.
var rewriteFrom = map[int16]int16{0: 10, 1: 16, 3: 0, 10: 0, 18: 0, 60: 0, 78: 0, 79: 0}

// rewriteResponse returns frame (a whole response frame to h's request)
// with the changes above, or frame itself when nothing changed or the
// response cannot be read (then it is relayed as the broker sent it).
func (p *Proxy) rewriteResponse(h header, frame []byte) []byte {
	from, ok := rewriteFrom[h.key]
	if !ok || h.req == nil || h.version < from {
		return frame
	}
	body := frame[4:]
	hl, err := responseHeaderLen(body, h.flexible)
	if err != nil {
		return frame
	}
	resp := h.req.ResponseKind()
	resp.SetVersion(h.version)
	if h.key == 3 || h.key == 18 {
		err = resp.ReadFrom(body[hl:]) // kept: names and versions outlive the frame
	} else {
		err = resp.(kmsg.UnsafeReadFrom).UnsafeReadFrom(body[hl:])
	}
	if err != nil {
		return frame
	}
	if !p.rewrite(resp) {
		return frame
	}
	out := make([]byte, 4, len(frame)+64)
	out = append(out, body[:hl]...)
	out = resp.AppendTo(out)
	putSize(out)
	return out
}

func putSize(b []byte) {
	n := uint32(len(b) - 4)
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

// rewrite changes resp in place and reports whether anything changed.
func (p *Proxy) rewrite(resp kmsg.Response) bool {
	changed := false
	addr := func(node int32, host *string, port *int32) {
		if node < 0 || *host == "" {
			return
		}
		if h, pt, ok := p.listenerFor(node, *host, *port); ok && (h != *host || pt != *port) {
			*host, *port, changed = h, pt, true
		}
	}
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range r.Brokers {
			b := &r.Brokers[i]
			addr(b.NodeID, &b.Host, &b.Port)
		}
		p.learnTopics(r)
	case *kmsg.FindCoordinatorResponse:
		addr(r.NodeID, &r.Host, &r.Port)
		for i := range r.Coordinators {
			c := &r.Coordinators[i]
			addr(c.NodeID, &c.Host, &c.Port)
		}
	case *kmsg.DescribeClusterResponse:
		for i := range r.Brokers {
			b := &r.Brokers[i]
			addr(b.NodeID, &b.Host, &b.Port)
		}
	case *kmsg.ProduceResponse:
		for i := range r.Brokers {
			b := &r.Brokers[i]
			addr(b.NodeID, &b.Host, &b.Port)
		}
	case *kmsg.FetchResponse:
		for i := range r.Brokers {
			b := &r.Brokers[i]
			addr(b.NodeID, &b.Host, &b.Port)
		}
	case *kmsg.ShareFetchResponse:
		for i := range r.NodeEndpoints {
			b := &r.NodeEndpoints[i]
			addr(b.NodeID, &b.Host, &b.Port)
		}
	case *kmsg.ShareAcknowledgeResponse:
		for i := range r.NodeEndpoints {
			b := &r.NodeEndpoints[i]
			addr(b.NodeID, &b.Host, &b.Port)
		}
	case *kmsg.ApiVersionsResponse:
		if r.ErrorCode != 0 {
			return false
		}
		for i := range r.ApiKeys {
			k := &r.ApiKeys[i]
			if req := kmsg.RequestForKey(k.ApiKey); req != nil && k.MaxVersion > req.MaxVersion() && k.MinVersion <= req.MaxVersion() {
				k.MaxVersion, changed = req.MaxVersion(), true
			}
		}
	}
	return changed
}

// learnTopics records the topic IDs a metadata response names.
func (p *Proxy) learnTopics(r *kmsg.MetadataResponse) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range r.Topics {
		if t.Topic != nil && *t.Topic != "" && t.TopicID != ([16]byte{}) {
			p.topicIDs[t.TopicID] = strings.Clone(*t.Topic)
		}
	}
}

func (p *Proxy) topicName(id [16]byte) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.topicIDs[id]
}
