package workload

import (
	"fmt"
	"math/rand"
)

// Keys is a key distribution. Build one with Uniform, Zipf or HotKey.
type Keys struct {
	kind  string
	n     int
	s, v  float64
	share float64
	hot   string
}

// Uniform spreads records evenly over n keys.
func Uniform(n int) Keys { return Keys{kind: "uniform", n: n} }

// Zipf draws keys from a Zipf distribution over n keys with parameters s > 1
// and v >= 1 (math/rand.NewZipf): key 0 is the most frequent.
func Zipf(n int, s, v float64) Keys { return Keys{kind: "zipf", n: n, s: s, v: v} }

// HotKey gives the key hot to share (0..1] of the records and spreads the
// rest uniformly over n other keys: one tenant dominating the stream.
func HotKey(hot string, share float64, n int) Keys {
	return Keys{kind: "hot", n: n, share: share, hot: hot}
}

func (k Keys) String() string {
	switch k.kind {
	case "zipf":
		return fmt.Sprintf("zipf(n=%d,s=%g,v=%g)", k.n, k.s, k.v)
	case "hot":
		return fmt.Sprintf("hot(%q share=%g, %d others)", k.hot, k.share, k.n)
	default:
		return fmt.Sprintf("uniform(%d)", k.n)
	}
}

func (k Keys) validate() error {
	if k.kind == "" {
		return nil // defaulted
	}
	if k.n < 1 {
		return fmt.Errorf("key distribution %s needs at least one key", k)
	}
	switch k.kind {
	case "zipf":
		if k.s <= 1 || k.v < 1 {
			return fmt.Errorf("zipf keys need s > 1 and v >= 1, got s=%g v=%g", k.s, k.v)
		}
	case "hot":
		if k.share <= 0 || k.share > 1 || k.hot == "" {
			return fmt.Errorf("hot key needs a name and a share in (0,1], got %q %g", k.hot, k.share)
		}
	}
	return nil
}

type keyDrawer func() string

func (k Keys) drawer(r *rand.Rand) keyDrawer {
	name := func(i int) string { return fmt.Sprintf("k-%05d", i) }
	switch k.kind {
	case "zipf":
		z := rand.NewZipf(r, k.s, k.v, uint64(k.n-1))
		return func() string { return name(int(z.Uint64())) }
	case "hot":
		return func() string {
			if r.Float64() < k.share {
				return k.hot
			}
			return name(r.Intn(k.n))
		}
	default:
		n := k.n
		if n == 0 {
			n = 64
		}
		return func() string { return name(r.Intn(n)) }
	}
}
