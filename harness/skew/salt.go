package skew

import (
	"math/rand"
	"strconv"
	"strings"
)

// saltSep separates a key from its salt.
const saltSep = "#"

// Salt spreads key over n sub-keys: it returns key + "#" + i, i drawn from
// rnd in [0, n). With n ≤ 1 the key is returned as is. The partitioner
// hashes the sub-keys to different partitions, so one hot key no longer
// means one hot partition; an aggregation over the key takes two steps
// (per sub-key, then per key: see Unsalt).
func Salt(key string, n int, rnd *rand.Rand) string {
	if n <= 1 {
		return key
	}
	return key + saltSep + strconv.Itoa(rnd.Intn(n))
}

// Unsalt returns the key a salted key came from.
func Unsalt(salted string) string {
	i := strings.LastIndex(salted, saltSep)
	if i < 0 {
		return salted
	}
	if _, err := strconv.Atoi(salted[i+len(saltSep):]); err != nil {
		return salted
	}
	return salted[:i]
}

// Plan is what a pipeline does about a profile: which keys it salts, and
// over how many sub-keys. The zero Plan salts nothing.
type Plan struct {
	Keys    map[string]bool
	SubKeys int
}

// PlanFor salts the report's hot keys over n sub-keys each; a report that is
// not skewed gives the zero Plan.
func PlanFor(r Report, n int) Plan {
	if !r.Skewed || n <= 1 {
		return Plan{}
	}
	p := Plan{Keys: map[string]bool{}, SubKeys: n}
	for _, k := range r.Hot() {
		p.Keys[k] = true
	}
	return p
}

// Key is the key a record with key k gets under the plan.
func (p Plan) Key(k string, rnd *rand.Rand) string {
	if !p.Keys[k] {
		return k
	}
	return Salt(k, p.SubKeys, rnd)
}
