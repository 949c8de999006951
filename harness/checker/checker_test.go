package checker

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/pipechaos/pipechaos/harness/history"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ackedLedger returns a ledger in which IDs 1..n were acked.
func ackedLedger(n uint64) *Ledger {
	l := NewLedger()
	for id := uint64(1); id <= n; id++ {
		l.Attempt(id)
		l.Ack(id)
	}
	return l
}

// found returns records for ids, all of key "k" in partition 0.
func found(ids ...uint64) []Found {
	out := make([]Found, len(ids))
	for i, id := range ids {
		out[i] = Found{ID: id, Key: "k", Partition: 0, Object: "o"}
	}
	return out
}

func seq(from, to uint64) []uint64 {
	var ids []uint64
	for id := from; id <= to; id++ {
		ids = append(ids, id)
	}
	return ids
}

func kinds(r Result, allowed bool) []string {
	var ks []string
	for _, v := range r.Violations {
		if v.Allowed == allowed {
			ks = append(ks, v.Kind)
		}
	}
	return ks
}

func TestChecker(t *testing.T) {
	tests := []struct {
		name       string
		ledger     func() *Ledger
		found      []Found
		corrupt    []string
		incomplete bool
		opts       []Option
		verdict    Verdict
		check      func(t *testing.T, r Result)
		illegal    []string // kinds that are not allowed, in order
		allowed    []string // kinds reported but allowed, in order
	}{{
		name:    "clean run",
		ledger:  func() *Ledger { return ackedLedger(100) },
		found:   found(seq(1, 100)...),
		verdict: Ok,
		check: func(t *testing.T, r Result) {
			if r.FoundRecords != 100 || r.FoundUnique != 100 || r.Objects != 1 {
				t.Errorf("found %d records, %d unique in %d objects; want 100, 100, 1", r.FoundRecords, r.FoundUnique, r.Objects)
			}
		},
	}, {
		name:    "empty store",
		ledger:  func() *Ledger { return ackedLedger(10) },
		verdict: Illegal,
		illegal: []string{Empty, Lost},
		check: func(t *testing.T, r Result) {
			if r.Lost != 10 {
				t.Errorf("lost %d, want 10", r.Lost)
			}
		},
	}, {
		name:    "empty ledger and empty store",
		ledger:  NewLedger,
		verdict: Illegal,
		illegal: []string{Empty},
	}, {
		name:    "nothing acked, indeterminate found",
		ledger:  func() *Ledger { l := NewLedger(); l.Indeterminate(1); return l },
		found:   found(1),
		verdict: Illegal,
		illegal: []string{Empty},
	}, {
		name:    "missing acked record",
		ledger:  func() *Ledger { return ackedLedger(100) },
		found:   found(slices.Delete(seq(1, 100), 41, 42)...),
		verdict: Illegal,
		illegal: []string{Lost},
		check: func(t *testing.T, r Result) {
			v := r.Violations[0]
			if v.Count != 1 || !slices.Equal(v.First, []uint64{42}) {
				t.Errorf("lost violation %+v, want count 1, first [42]", v)
			}
		},
	}, {
		name:    "duplicate, exactly-once (default)",
		ledger:  func() *Ledger { return ackedLedger(5) },
		found:   found(1, 2, 3, 3, 4, 5),
		verdict: Illegal,
		illegal: []string{Duplicated},
		check: func(t *testing.T, r Result) {
			if r.Duplicated != 1 || r.FoundRecords != 6 || r.FoundUnique != 5 || r.Reordered != 0 {
				t.Errorf("duplicated %d, found %d/%d unique, reordered %d; want 1, 6/5, 0",
					r.Duplicated, r.FoundRecords, r.FoundUnique, r.Reordered)
			}
		},
	}, {
		name:    "duplicates, at-least-once accepted",
		ledger:  func() *Ledger { return ackedLedger(5) },
		found:   found(1, 2, 3, 1, 2, 3, 3, 4, 5),
		opts:    []Option{MaxDuplicates(math.MaxInt)},
		verdict: Ok,
		allowed: []string{Duplicated},
		check: func(t *testing.T, r Result) {
			if r.Duplicated != 4 || !slices.Equal(r.Violations[0].First, []uint64{1, 2, 3}) {
				t.Errorf("duplicated %d, first %v; want 4, [1 2 3]", r.Duplicated, r.Violations[0].First)
			}
		},
	}, {
		name:    "duplicates beyond the maximum",
		ledger:  func() *Ledger { return ackedLedger(5) },
		found:   found(1, 1, 2, 2, 3, 4, 5),
		opts:    []Option{MaxDuplicates(1)},
		verdict: Illegal,
		illegal: []string{Duplicated},
	}, {
		name:    "unexpected record",
		ledger:  func() *Ledger { return ackedLedger(3) },
		found:   found(1, 2, 3, 7),
		verdict: Illegal,
		illegal: []string{Unexpected},
		check: func(t *testing.T, r Result) {
			if r.Unexpected != 1 || !slices.Equal(r.Violations[0].First, []uint64{7}) {
				t.Errorf("unexpected %d %v, want 1 [7]", r.Unexpected, r.Violations[0].First)
			}
		},
	}, {
		name:    "unexpected record with a sparse ID",
		ledger:  func() *Ledger { return ackedLedger(3) },
		found:   found(1, 2, 3, 1<<60),
		verdict: Illegal,
		illegal: []string{Unexpected},
	}, {
		name:    "corrupt object",
		ledger:  func() *Ledger { return ackedLedger(3) },
		found:   found(1, 2, 3),
		corrupt: []string{"topics/t/partition=0/t+0+3.avro"},
		verdict: Illegal,
		illegal: []string{Corrupt},
		check: func(t *testing.T, r Result) {
			if r.Objects != 2 || len(r.CorruptObjects) != 1 {
				t.Errorf("objects %d, corrupt %v; want 2, one", r.Objects, r.CorruptObjects)
			}
		},
	}, {
		name: "indeterminate found and missing",
		ledger: func() *Ledger {
			l := ackedLedger(4)
			l.Indeterminate(5)
			l.Indeterminate(6)
			l.Attempt(7) // never completed: indeterminate
			return l
		},
		found:   found(1, 2, 3, 4, 5),
		verdict: Ok,
		allowed: []string{Indeterminate},
		check: func(t *testing.T, r Result) {
			if r.Indeterminate != 3 || r.IndeterminateFound != 1 || r.IndeterminateMissing != 2 {
				t.Errorf("indeterminate %d, found %d, missing %d; want 3, 1, 2",
					r.Indeterminate, r.IndeterminateFound, r.IndeterminateMissing)
			}
		},
	}, {
		name:    "failed but found is recovered",
		ledger:  func() *Ledger { l := ackedLedger(3); l.Fail(4); l.Fail(5); return l },
		found:   found(1, 2, 3, 4),
		verdict: Ok,
		allowed: []string{Recovered},
		check: func(t *testing.T, r Result) {
			if r.Recovered != 1 || r.Failed != 2 {
				t.Errorf("recovered %d of %d failed, want 1 of 2", r.Recovered, r.Failed)
			}
		},
	}, {
		name:    "reorder within a key and partition",
		ledger:  func() *Ledger { return ackedLedger(5) },
		found:   found(1, 3, 2, 4, 5),
		verdict: Illegal,
		illegal: []string{Reordered},
		check: func(t *testing.T, r Result) {
			if r.Reordered != 1 || !slices.Equal(r.Violations[0].First, []uint64{2}) {
				t.Errorf("reordered %d %v, want 1 [2]", r.Reordered, r.Violations[0].First)
			}
		},
	}, {
		name:    "reorder allowed",
		ledger:  func() *Ledger { return ackedLedger(5) },
		found:   found(1, 3, 2, 4, 5),
		opts:    []Option{AllowReorder()},
		verdict: Ok,
		allowed: []string{Reordered},
	}, {
		name:   "keys and partitions are ordered independently",
		ledger: func() *Ledger { return ackedLedger(4) },
		found: []Found{
			{ID: 3, Key: "a", Partition: 1}, {ID: 4, Key: "b", Partition: 0},
			{ID: 1, Key: "a", Partition: 0}, {ID: 2, Key: "b", Partition: 1},
		},
		verdict: Ok,
	}, {
		name:    "duplicate does not count as a reorder",
		ledger:  func() *Ledger { return ackedLedger(3) },
		found:   found(1, 2, 3, 1),
		opts:    []Option{MaxDuplicates(1)},
		verdict: Ok,
		allowed: []string{Duplicated},
	}, {
		name:       "incomplete store read",
		ledger:     func() *Ledger { return ackedLedger(3) },
		found:      found(1, 2),
		incomplete: true,
		verdict:    Unknown,
		illegal:    []string{Incomplete, Lost},
	}, {
		name:       "incomplete store read with an unexpected record",
		ledger:     func() *Ledger { return ackedLedger(3) },
		found:      found(1, 9),
		incomplete: true,
		verdict:    Illegal,
		illegal:    []string{Incomplete, Lost, Unexpected},
	}, {
		name: "sparse IDs",
		ledger: func() *Ledger {
			l := NewLedger()
			for _, id := range []uint64{1, 1 << 40, math.MaxUint64} {
				l.Ack(id)
			}
			return l
		},
		found:   found(1, 1<<40),
		verdict: Illegal,
		illegal: []string{Lost},
		check: func(t *testing.T, r Result) {
			if r.Acked != 3 || !slices.Equal(r.Violations[0].First, []uint64{math.MaxUint64}) {
				t.Errorf("acked %d, lost %v; want 3, [MaxUint64]", r.Acked, r.Violations[0].First)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.ledger(), tt.opts...)
			for _, f := range tt.found {
				c.Record(f)
			}
			for _, key := range tt.corrupt {
				c.CorruptObject(key, errors.New("avro: bad magic"))
			}
			if tt.incomplete {
				c.Incomplete(errors.New("list: connection reset"))
			}
			r := c.Result()
			if r.Verdict != tt.verdict {
				t.Errorf("verdict %s, want %s\n%s\n%v", r.Verdict, tt.verdict, r.Summary(), r.Err())
			}
			if got := kinds(r, false); !slices.Equal(got, tt.illegal) {
				t.Errorf("violations %v, want %v", got, tt.illegal)
			}
			if got := kinds(r, true); !slices.Equal(got, tt.allowed) {
				t.Errorf("allowed violations %v, want %v", got, tt.allowed)
			}
			if (r.Err() == nil) != (r.Verdict == Ok) {
				t.Errorf("Err() = %v with verdict %s", r.Err(), r.Verdict)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestLedger(t *testing.T) {
	l := NewLedger()
	l.Attempt(1)
	l.Indeterminate(1)
	l.Ack(1) // the final outcome wins
	l.Attempt(1)
	l.Fail(2)
	l.Attempt(3)
	l.Indeterminate(1 << 50)
	want := Counts{Attempted: 4, Acked: 1, Failed: 1, Indeterminate: 2}
	if got := l.Counts(); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}

	events := []history.Event{
		{Type: history.Produce, RecordID: 1, Outcome: history.Indeterminate},
		{Type: history.Fault, Fault: "region-outage", Phase: history.Start},
		{Type: history.Produce, RecordID: 2, Outcome: history.Failed},
		{Type: history.Produce, RecordID: 1, Outcome: history.Acked},
		{Type: history.Produce, RecordID: 3},
		{Type: history.Note, Text: "drain"},
	}
	if got := LedgerFrom(events).Counts(); got != (Counts{Attempted: 3, Acked: 1, Failed: 1, Indeterminate: 1}) {
		t.Errorf("LedgerFrom counts %+v", got)
	}
}

func TestResultErrAndSummary(t *testing.T) {
	c := New(ackedLedger(5))
	for _, f := range found(1, 2, 2, 9) {
		c.Record(f)
	}
	r := c.Result()
	err := r.Err()
	if err == nil {
		t.Fatal("Err() = nil for an illegal result")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"checker: verdict illegal:",
		"lost: 3 acked records never reached the store (first IDs: 3 4 5)",
		"unexpected: 1 records in the store were never produced (first IDs: 9)",
		"duplicated: 1 extra copies of records in the store (first IDs: 2)",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("Err():\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	const sum = "attempted=5 acked=5 found=4 lost=3 duplicated=1 unexpected=1 reordered=0 indeterminate=0 corrupt=0 verdict=illegal"
	if got := r.Summary(); got != sum {
		t.Errorf("Summary() = %q, want %q", got, sum)
	}

	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Summary() != sum || len(back.Violations) != 3 || !strings.Contains(string(b), `"found_unique":3`) {
		t.Errorf("JSON round trip lost data: %s", b)
	}

	ok := New(ackedLedger(1))
	ok.Record(Found{ID: 1})
	if err := ok.Result().Err(); err != nil {
		t.Errorf("Err() = %v for an ok result", err)
	}
}

// recorded is a run in testdata/: the history, what the store held and the
// verdict, porcupine style.
type recorded struct {
	Description string `json:"description"`
	Options     struct {
		MaxDuplicates int  `json:"max_duplicates"`
		AllowReorder  bool `json:"allow_reorder"`
	} `json:"options"`
	Events  []history.Event `json:"events"`
	Found   []Found         `json:"found"`
	Corrupt []struct {
		Object string `json:"object"`
		Error  string `json:"error"`
	} `json:"corrupt"`
	Incomplete []string `json:"incomplete"`
	// Want holds the expected verdict and any Result JSON field to compare;
	// "violations" lists the expected kinds, allowed ones included, in order.
	Want map[string]any `json:"want"`
}

func TestRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var run recorded
			if err := json.Unmarshal(b, &run); err != nil {
				t.Fatal(err)
			}
			var opts []Option
			if run.Options.MaxDuplicates > 0 {
				opts = append(opts, MaxDuplicates(run.Options.MaxDuplicates))
			}
			if run.Options.AllowReorder {
				opts = append(opts, AllowReorder())
			}
			c := New(LedgerFrom(run.Events), opts...)
			for _, f := range run.Found {
				c.Record(f)
			}
			for _, co := range run.Corrupt {
				c.CorruptObject(co.Object, errors.New(co.Error))
			}
			for _, e := range run.Incomplete {
				c.Incomplete(errors.New(e))
			}
			r := c.Result()

			rb, _ := json.Marshal(r)
			var got map[string]any
			if err := json.Unmarshal(rb, &got); err != nil {
				t.Fatal(err)
			}
			if _, ok := run.Want["verdict"]; !ok {
				t.Fatal(`want has no "verdict"`)
			}
			for k, want := range run.Want {
				if k == "violations" {
					var ks []string
					for _, v := range r.Violations {
						ks = append(ks, v.Kind)
					}
					if fmt.Sprint(ks) != fmt.Sprint(want) {
						t.Errorf("violations %v, want %v", ks, want)
					}
					continue
				}
				if g := got[k]; fmt.Sprint(g) != fmt.Sprint(want) {
					t.Errorf("%s = %v, want %v", k, g, want)
				}
			}
			if t.Failed() {
				t.Logf("%s\n%s\n%v", run.Description, r.Summary(), r.Err())
			}
		})
	}
}
