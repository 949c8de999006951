package kafkaproxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxFrame bounds one request or response frame, as a broker's
// socket.request.max.bytes does (its default is 100 MiB).
const maxFrame = 100 << 20

// readFrame reads one size-prefixed Kafka frame and returns it whole
// (size prefix included), so a frame the proxy does not change is
// forwarded byte for byte.
func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 0 || n > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes is out of range (0..%d)", n, maxFrame)
	}
	buf := make([]byte, 4+int(n))
	copy(buf, size[:])
	if _, err := io.ReadFull(r, buf[4:]); err != nil {
		return nil, err
	}
	return buf, nil
}

// header is what the proxy reads of a request frame's header (Kafka's
// request header v0–v2: api key, api version, correlation id, client id,
// and the tagged fields of flexible versions).
type header struct {
	key     int16
	version int16
	corr    int32
	// req is the parsed request; nil when kmsg does not know the key or
	// version, or the body did not parse (then the frame is relayed
	// untouched and no rule can match it).
	req kmsg.Request
	// flexible is whether the response header carries tagged fields
	// (flexible versions, except ApiVersions whose response header is
	// always v0).
	flexible bool
}

// parseRequest reads the header of frame (size prefix included) and, when
// kmsg knows the key and version, the body.
func parseRequest(frame []byte) (header, error) {
	b := frame[4:]
	if len(b) < 8 {
		return header{}, errors.New("request frame shorter than its header")
	}
	h := header{
		key:     int16(binary.BigEndian.Uint16(b)),
		version: int16(binary.BigEndian.Uint16(b[2:])),
		corr:    int32(binary.BigEndian.Uint32(b[4:])),
	}
	b = b[8:]
	req := kmsg.RequestForKey(h.key)
	if req == nil || h.version < 0 || h.version > req.MaxVersion() {
		return h, nil
	}
	req.SetVersion(h.version)
	h.flexible = req.IsFlexible() && h.key != 18
	if !(h.key == 7 && h.version == 0) { // ControlledShutdown v0 has no client id
		if len(b) < 2 {
			return h, errors.New("request header truncated in the client id")
		}
		n := int16(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n > 0 {
			if len(b) < int(n) {
				return h, errors.New("request header truncated in the client id")
			}
			b = b[n:]
		}
	}
	if req.IsFlexible() {
		tr := &tagReader{b: b}
		kmsg.SkipTags(tr)
		if tr.bad {
			return h, errors.New("request header tags are truncated")
		}
		b = tr.b
	}
	if err := req.ReadFrom(b); err != nil {
		return h, nil // relayed untouched: kmsg could not read this body
	}
	h.req = req
	return h, nil
}

// responseHeaderLen is the length of the response header at the start of
// body (the frame without its size prefix): the correlation id, then the
// tagged fields when flexible.
func responseHeaderLen(body []byte, flexible bool) (int, error) {
	if len(body) < 4 {
		return 0, errors.New("response frame shorter than its header")
	}
	if !flexible {
		return 4, nil
	}
	tr := &tagReader{b: body[4:]}
	kmsg.SkipTags(tr)
	if tr.bad {
		return 0, errors.New("response header tags are truncated")
	}
	return len(body) - len(tr.b), nil
}

// appendResponse appends a whole response frame: size, correlation id, an
// empty tag section when flexible, then the body kmsg encodes.
func appendResponse(dst []byte, corr int32, flexible bool, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if flexible {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// tagReader is the kmsg.TagReader kmsg.SkipTags needs to step over the
// tagged fields of a header.
type tagReader struct {
	b   []byte
	bad bool
}

func (r *tagReader) Uvarint() uint32 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > 1<<32-1 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return uint32(v)
}

func (r *tagReader) Span(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.bad = true
		r.b = nil
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}
