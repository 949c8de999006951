package headerfilter

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/harness/workload"
)

// FuzzFilterHeaders routes records whose headers are built from arbitrary
// bytes: each header is a key-length byte, the key, a value-length byte
// (0xff: a null value) and the value. The correct filter never panics and
// never returns an error; it routes to the home route exactly when the last
// site header is absent, null, malformed or the home site, and counts an
// exception exactly when it is absent, null or malformed.
//
//	go test -run '^$' -fuzz FuzzFilterHeaders -fuzztime 60s -parallel 1 ./connectors/headerfilter
func FuzzFilterHeaders(f *testing.F) {
	site := workload.SiteHeader
	enc := func(hs ...[2]string) []byte {
		var b []byte
		for _, h := range hs {
			b = append(b, byte(len(h[0])))
			b = append(b, h[0]...)
			if h[1] == "\x00null" {
				b = append(b, 0xff)
				continue
			}
			b = append(b, byte(len(h[1])))
			b = append(b, h[1]...)
		}
		return b
	}
	f.Add(enc([2]string{site, "US"}))
	f.Add(enc([2]string{site, "CA"}))
	f.Add(enc([2]string{site, "\x00null"}))
	f.Add(enc([2]string{site, "us"}, [2]string{"x", "y"}))
	f.Add(enc([2]string{site, "MX"}, [2]string{site, "\x00null"}))
	f.Add(enc([2]string{site, "\xff\xfe"}))
	f.Add([]byte{})
	flt, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := &kgo.Record{Topic: "audit", Headers: decodeHeaders(raw)}
		got, err := flt.Apply(r)
		if err != nil {
			t.Fatalf("the correct filter returned an error: %v", err)
		}
		s, reason := Site(r, site)
		want := "site=intl"
		if reason != "" || s == "US" {
			want = "site=us"
		}
		if got.Route != want {
			t.Fatalf("routed to %q, want %q (site %q, reason %q)", got.Route, want, s, reason)
		}
		if reason == "" && !ValidSite([]byte(s)) {
			t.Fatalf("site %q accepted but not a valid site id", s)
		}
	})
}

func decodeHeaders(b []byte) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for len(b) > 0 {
		n := int(b[0])
		b = b[1:]
		if n > len(b) {
			n = len(b)
		}
		h := kgo.RecordHeader{Key: string(b[:n])}
		b = b[n:]
		if len(b) == 0 {
			hs = append(hs, h)
			break
		}
		m := int(b[0])
		b = b[1:]
		if m == 0xff {
			hs = append(hs, h) // a null value
			continue
		}
		if m > len(b) {
			m = len(b)
		}
		h.Value = append([]byte{}, b[:m]...)
		b = b[m:]
		hs = append(hs, h)
	}
	return hs
}
