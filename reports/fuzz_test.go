package reports

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadRecorded feeds arbitrary bytes to the `pipechaos report` path: a
// history.json (plain or gzipped) read back into an outcome and, when it
// reads, built into a report and rendered as HTML and JUnit. Whatever comes
// in, it is an error naming the file or a rendered page, never a panic.
//
//	go test -run '^$' -fuzz FuzzReadRecorded -fuzztime 60s ./reports
func FuzzReadRecorded(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json.gz")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) < 16<<10 {
			f.Add(data)
		}
		if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
			if plain, err := io.ReadAll(zr); err == nil && len(plain) < 16<<10 {
				f.Add(plain)
			}
		}
	}
	f.Add([]byte(`{"scenario":"x","variant":"fixed","events":[{"seq":0,"type":"fault","phase":"heal"}]}`))
	f.Add([]byte(`{"scenario":"x","produce_sampled_every":-5,"events":[{"type":"produce","outcome":"acked","at":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"scenario":"x","elapsed_ns":-1,"check":{"violations":[{"kind":"lost","first":[1]}]}}`))
	f.Add([]byte{0x1f, 0x8b})
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := decodeRecorded("history.json", data)
		if err != nil {
			if !bytes.Contains([]byte(err.Error()), []byte("history.json")) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		r := Build(o, nil)
		if err := HTML(io.Discard, r); err != nil {
			t.Logf("render: %v", err) // a template error is reported, not a crash
		}
		var x bytes.Buffer
		suites := junitSuites([]Report{r})
		_ = suites.WriteXML(&x)
	})
}
