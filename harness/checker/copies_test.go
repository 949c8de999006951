package checker

import "testing"

func TestMaxRecordCopies(t *testing.T) {
	feed := func(opts ...Option) Result {
		c := New(ackedLedger(3), opts...)
		for _, f := range found(1, 2, 3, 1, 1, 2) { // 1 three times, 2 twice
			c.Record(f)
		}
		return c.Result()
	}
	if r := feed(MaxRecordCopies(3)); r.Verdict != Ok || r.Duplicated != 3 {
		t.Errorf("at most 3 copies: verdict %s, %d duplicates; want ok with the 3 extra copies counted", r.Verdict, r.Duplicated)
	}
	r := feed(MaxRecordCopies(2))
	if r.Verdict != Illegal || len(kinds(r, false)) != 1 || kinds(r, false)[0] != TooManyCopies {
		t.Fatalf("at most 2 copies: verdict %s, violations %v; want illegal, too-many-copies", r.Verdict, kinds(r, false))
	}
	for _, v := range r.Violations {
		if v.Kind == TooManyCopies && (v.Count != 1 || v.First[0] != 1) {
			t.Errorf("too-many-copies names %d records (%v), want record 1 alone", v.Count, v.First)
		}
	}
	if r := feed(); r.Verdict != Illegal {
		t.Errorf("exactly-once (default): verdict %s, want illegal", r.Verdict)
	}
}

func TestUnnamedObjects(t *testing.T) {
	c := New(ackedLedger(2))
	c.Record(Found{ID: 1, Object: "topics/t/partition=0/t+0+0.jsonl"})
	c.Record(Found{ID: 2, Object: "topics/t/partition=0/batch-1733100000.jsonl"})
	if r := c.Result(); r.UnnamedObjects != 1 || r.Objects != 2 {
		t.Errorf("%d unnamed of %d objects, want 1 of 2", r.UnnamedObjects, r.Objects)
	}
}
