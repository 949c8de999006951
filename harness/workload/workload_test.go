package workload

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness/history"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func draw(t *testing.T, cfg Config, n int) []Record {
	t.Helper()
	g, err := NewGenerator(cfg)
	require.NoError(t, err)
	out := make([]Record, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

func TestGeneratorIsDeterministicPerSeed(t *testing.T) {
	cfg := Config{Topic: "t", Records: 100, Seed: 7, Keys: Zipf(50, 1.5, 1), Headers: HeaderMix{Absent: 0.1, Null: 0.1, Malformed: 0.1}}
	a, b := draw(t, cfg, 500), draw(t, cfg, 500)
	require.Equal(t, a, b, "same seed, same records")
	cfg.Seed = 8
	require.NotEqual(t, a, draw(t, cfg, 500), "another seed, other records")
	for i, r := range a {
		require.Equal(t, uint64(i+1), r.ID, "IDs are a dense sequence from 1")
	}
}

func TestHeaderMixRates(t *testing.T) {
	const n = 20000
	cfg := Config{Topic: "t", Records: n, Headers: HeaderMix{Absent: 0.05, Null: 0.10, Malformed: 0.15}}
	counts := map[SiteState]int{}
	for _, r := range draw(t, cfg, n) {
		counts[r.Site]++
	}
	within := func(got int, want float64) {
		t.Helper()
		require.InDelta(t, want*n, float64(got), 0.02*n, "rate %.2f", want)
	}
	within(counts[SiteAbsent], 0.05)
	within(counts[SiteNull], 0.10)
	within(counts[SiteMalformed], 0.15)
	within(counts[SiteValid], 0.70)
}

func TestKeyDistributions(t *testing.T) {
	const n = 10000
	top := func(cfg Config) (string, float64) {
		c := map[string]int{}
		for _, r := range draw(t, cfg, n) {
			c[r.Key]++
		}
		best, bn := "", 0
		for k, v := range c {
			if v > bn {
				best, bn = k, v
			}
		}
		return best, float64(bn) / n
	}
	_, share := top(Config{Topic: "t", Records: n, Keys: Uniform(100)})
	require.Less(t, share, 0.03, "uniform: no key dominates")
	key, share := top(Config{Topic: "t", Records: n, Keys: HotKey("tenant-42", 0.6, 100)})
	require.Equal(t, "tenant-42", key)
	require.InDelta(t, 0.6, share, 0.03)
	key, share = top(Config{Topic: "t", Records: n, Keys: Zipf(100, 2, 1)})
	require.Equal(t, "k-00000", key, "zipf: key 0 is the most frequent")
	require.Greater(t, share, 0.3)
}

func TestConfigErrorsNameTheProblem(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Topic: "t"}, "records must be positive"},
		{Config{Topic: "t", Records: 1, Rate: -1}, "rate cannot be negative"},
		{Config{Topic: "t", Records: 1, Keys: HotKey("", 0.5, 3)}, "hot key needs a name"},
		{Config{Topic: "t", Records: 1, Keys: Zipf(10, 0.5, 1)}, "zipf keys need s > 1"},
		{Config{Topic: "t", Records: 1, Headers: HeaderMix{Absent: 0.6, Null: 0.6}}, "sum to more than 1"},
		{Config{Topic: "t", Records: 1, Schemas: []SchemaStep{{From: 5, Schema: SchemaV1}}}, "first schema step must start at record 1"},
	} {
		_, err := NewGenerator(c.cfg)
		require.ErrorContains(t, err, c.want)
	}
}

func TestClassify(t *testing.T) {
	require.Equal(t, history.Acked, Classify(nil))
	require.Equal(t, history.Failed, Classify(fmt.Errorf("%w: schema rejected", ErrNotSent)))
	require.Equal(t, history.Failed, Classify(kerr.MessageTooLarge))
	require.Equal(t, history.Indeterminate, Classify(kerr.RequestTimedOut), "a retriable error may have been written")
	require.Equal(t, history.Indeterminate, Classify(context.DeadlineExceeded))
	require.Equal(t, history.Indeterminate, Classify(kgo.ErrRecordTimeout))
	require.Equal(t, history.Indeterminate, Classify(errors.New("connection reset")))
}

func TestEncodeIsConfluentWireFormat(t *testing.T) {
	enc, err := newEncoder(SchemaV2, 42)
	require.NoError(t, err)
	rec := Record{ID: 9, Key: "k-1", Site: SiteNull}
	v, err := enc.encode(rec, []byte("payload"), testNow)
	require.NoError(t, err)
	require.Equal(t, []byte{0, 0, 0, 0, 42}, v[:5], "magic byte then the schema id, big-endian")
	native, rest, err := enc.codec.NativeFromBinary(v[5:])
	require.NoError(t, err)
	require.Empty(t, rest)
	m := native.(map[string]any)
	require.Equal(t, int64(9), m["id"])
	require.Equal(t, "k-1", m["key"])
	require.Equal(t, map[string]any{"string": "tenant-k-1"}, m["tenant"])

	kr := kafkaRecord("t", rec, v)
	id, ok := RecordID(kr)
	require.True(t, ok)
	require.Equal(t, uint64(9), id)
	require.Len(t, kr.Headers, 2)
	require.Nil(t, kr.Headers[1].Value, "a null site header has a nil value")
}
