package scenarios

import (
	"context"
	"testing"

	"github.com/pipechaos/pipechaos/harness"
	"github.com/pipechaos/pipechaos/harness/checker"
	"github.com/pipechaos/pipechaos/harness/env"
	"github.com/pipechaos/pipechaos/harness/env/backends"
)

// A buggy run whose fault never fired proves nothing: store-outage's buggy
// sink (commit before write) runs on a store whose fault layer ignores
// every injected fault, so no write ever gives up. The outcome must be
// inconclusive, with the reason — not a reproduced bug, and not a pass.
func TestBuggyRunWhoseFaultNeverFiredIsInconclusive(t *testing.T) {
	s, ok := Lookup("store-outage")
	if !ok {
		t.Fatal("store-outage is not in the catalogue")
	}
	seed, err := harness.Seed(s.Name)
	if err != nil {
		t.Fatal(err)
	}
	e := deafStore{backends.New(t)}
	out := harness.Execute(context.Background(), s, harness.Buggy, e, seed, t.Logf)
	if out.Error != "" || out.Skipped != "" {
		t.Fatalf("the run did not happen: %s%s", out.Error, out.Skipped)
	}
	if out.Verdict != checker.Unknown || len(out.Inconclusive) == 0 {
		t.Fatalf("verdict %s (failure %q): a run whose fault never fired must be inconclusive", out.Verdict, out.Failure)
	}
	if out.Failure != "" || out.Caught() || out.Expected() {
		t.Fatalf("an inconclusive run was counted as a reproduction: %q", out.Failure)
	}
	t.Logf("inconclusive, as it must be: %v", out.Inconclusive)
}

// deafStore is an environment whose store's fault layer takes every fault
// and applies none; requests are still counted and observed.
type deafStore struct{ env.Environment }

func (e deafStore) Store() env.Store { return deafStoreStore{e.Environment.Store()} }

type deafStoreStore struct{ env.Store }

func (s deafStoreStore) Faults() env.HTTPFaults { return deafFaults{s.Store.Faults()} }

type deafFaults struct{ env.HTTPFaults }

func (deafFaults) Inject(env.HTTPFault) {}

func (f deafFaults) Observe(fn func(env.HTTPExchange)) func() {
	return f.HTTPFaults.(env.HTTPObserver).Observe(fn)
}
