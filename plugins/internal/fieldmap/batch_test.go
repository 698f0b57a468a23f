package fieldmap_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/internal/fieldmap"
)

func TestBatch(t *testing.T) {
	var b fieldmap.Batch
	tf, _ := fieldmap.ParseTimeFormat("auto")
	for range 2 { // a reused batch gives the same entries
		b.Reset()

		b.Begin()
		if !b.Timestamp([]byte("2026-07-31T10:15:02Z"), tf, nil) {
			t.Fatal("Timestamp failed")
		}
		b.Level([]byte("warn"))
		b.String(fieldmap.Message, []byte("first"))
		if !b.Int(fieldmap.TokenSpend, 0) || !b.Int(fieldmap.PRNumber, 7) {
			t.Fatal("Int failed")
		}
		if b.Int(fieldmap.PRNumber, 0) || b.Int(fieldmap.TokenSpend, -1) || b.Int(fieldmap.Message, 1) {
			t.Fatal("Int accepted a value out of range")
		}
		b.DetailKey([]byte(`k"1`))
		b.DetailString([]byte("v\n"))
		b.DetailRawKey([]byte(`k\u0032`))
		b.DetailRaw([]byte(`[1,{"a":null}]`))

		b.Begin()
		b.String(fieldmap.HookID, []byte("gone"))
		b.DetailKey([]byte("gone"))
		b.DetailRaw([]byte("1"))
		b.Fail([]byte("bad \xff\x00 record"))

		b.Begin()
		start := len(b.Text)
		b.Text = append(b.Text, "\x1b[31mred\x1b[0m"...)
		b.StripEnd(fieldmap.Message, start)
		if b.Timestamp([]byte("nope"), tf, nil) || b.Has(fieldmap.Timestamp) {
			t.Fatal("a bad timestamp was set")
		}
		if !b.Int(fieldmap.TokenSpend, 9) {
			t.Fatal("Int failed")
		}
		b.DetailKey([]byte("x"))
		b.DetailRaw([]byte("true"))

		got := b.Finish([]plugins.Entry{{Message: "earlier"}})
		zero, nine := int64(0), int64(9)
		want := []plugins.Entry{
			{Message: "earlier"},
			{
				TimestampUS: 1785492902000000, TimestampRaw: "2026-07-31T10:15:02Z", Level: "WARN", Message: "first",
				PRNumber: 7, TokenSpend: &zero, Details: []byte(`{"k\"1":"v\n","k\u0032":[1,{"a":null}]}`),
				DedupeKey: plugins.DedupeKey("2026-07-31T10:15:02Z", "WARN", []byte("first")),
			},
			{Message: "bad \uFFFD\uFFFD record", ParseError: true},
			{Message: "red", TokenSpend: &nine, Details: []byte(`{"x":true}`)},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Finish (-want +got):\n%s", diff)
		}
		// Details share one buffer: appending to one must not reach the next.
		_ = append(got[1].Details, "garbage"...)
		if string(got[3].Details) != `{"x":true}` {
			t.Fatalf("appending to one entry's Details changed another's: %q", got[3].Details)
		}
		*got[1].TokenSpend = 5
		if *got[3].TokenSpend != 9 {
			t.Fatal("TokenSpend pointers alias each other")
		}
	}
}

// TestBatchEmpty checks that a batch without records appends nothing.
func TestBatchEmpty(t *testing.T) {
	var b fieldmap.Batch
	b.Reset()
	if got := b.Finish(nil); len(got) != 0 {
		t.Fatalf("Finish of an empty batch = %v", got)
	}
}
