package sqlite_test

import (
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/sqlite"
)

// FuzzSearch checks that no search string makes a query fail: the user's
// text never reaches the FTS query syntax. For ASCII searches the result
// is also checked against the reference meaning (searchMatches); non-ASCII
// words are compared by SQLite without diacritics, which the reference
// does not model.
func FuzzSearch(f *testing.F) {
	for _, seed := range []string{
		"merge", "fetch origin", `"fetch origin"`, `"remote ref`, `""`, `"`, "*", "-", "-fetch", "fetch*",
		"NEAR", "fetch NEAR origin", "fetch NEAR/2 origin", "a OR b", "NOT fetch", "fetch AND NOT origin",
		"(fetch", "fetch)", "^fetch", "message:fetch", "docid:1", "RuntimeError: Failed", "café", "ＦＥＴＣＨ",
		"日本語", "\x00", "\xff\xfe", "'; DROP TABLE entries; --", "step 1", "1s900ms", "PR#105",
	} {
		f.Add(seed)
	}
	s := openStore(f, "", sqlite.Options{})
	g := newGen("webhook-server", start)
	ingest(f, s, g.entries(300))
	g.t = g.t.Add(time.Minute)
	weird := g.entry(&g.text, "INFO", "h-weird", `Café "quoted" NEAR/3 a-b*c (x OR y) 日本語テキスト ＦＵＬＬ`)
	ingest(f, s, []aggregator.Entry{weird})
	all := allEntries(f, s)
	f.Fuzz(func(t *testing.T, search string) {
		page, err := s.Entries(t.Context(), aggregator.EntryQuery{Filter: aggregator.EntryFilter{Search: search}, Limit: 1})
		if err != nil {
			t.Fatalf("Entries(search %q): %v", search, err)
		}
		if _, err := s.Deliveries(t.Context(), aggregator.DeliveryQuery{Filter: aggregator.DeliveryFilter{Search: search}, Limit: 1}); err != nil {
			t.Fatalf("Deliveries(search %q): %v", search, err)
		}
		if !isASCII(search) {
			return
		}
		var want int64
		for _, e := range all {
			if search == "" || searchMatches(search, e.Message) {
				want++
			}
		}
		if page.Total != want {
			t.Fatalf("search %q: total %d, want %d", search, page.Total, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func TestSearchUnicode(t *testing.T) {
	s := openStore(t, "", sqlite.Options{})
	g := newGen("webhook-server", start)
	for _, msg := range []string{"Café au lait MERGED", "Straße geschlossen", "日本語 テキスト", "ＦＵＬＬ width"} {
		ingest(t, s, []aggregator.Entry{g.entry(&g.text, "INFO", "", msg)})
	}
	tests := []struct {
		search string
		want   int64
	}{
		{"cafe", 1}, {"CAFÉ", 1}, {"café au", 1}, {`"au lait"`, 1}, {`"lait au"`, 0},
		{"merge", 1}, {"straße", 1}, {"日本語", 1}, {"ｆｕｌｌ", 1}, {"width ｆｕｌｌ", 1}, {"full", 0}, // no width folding
		{"---", 0}, {"", 4},
	}
	for _, tt := range tests {
		t.Run(tt.search, func(t *testing.T) {
			page, err := s.Entries(t.Context(), aggregator.EntryQuery{Filter: aggregator.EntryFilter{Search: tt.search}})
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != tt.want {
				t.Errorf("total %d, want %d", page.Total, tt.want)
			}
		})
	}
}

// TestSearchManyMatches covers searches with thousands of matches, whose
// pages walk an index in time order instead of sorting every match.
func TestSearchManyMatches(t *testing.T) {
	s := openStore(t, "", sqlite.Options{})
	ingest(t, s, newGen("webhook-server", start).entries(4000))
	all := allEntries(t, s)
	for _, f := range []aggregator.EntryFilter{
		{Search: "fetch"},
		{Search: "fetch", Levels: []string{"DEBUG", "INFO"}},
		{Search: `"git -C"`, Since: all[500].Timestamp, Until: all[3500].Timestamp},
	} {
		var want []aggregator.Entry
		for _, e := range all {
			if searchMatches(f.Search, e.Message) && (f.Levels == nil || slices.Contains(f.Levels, e.Level)) &&
				(f.Since.IsZero() || !e.Timestamp.Before(f.Since)) && (f.Until.IsZero() || !e.Timestamp.After(f.Until)) {
				want = append(want, e)
			}
		}
		if len(want) < 2000 {
			t.Fatalf("%+v: %d matches, want over 2000: the test data is wrong", f, len(want))
		}
		slices.Reverse(want) // newest first
		for _, offset := range []int{0, 999, len(want) - 10} {
			page, err := s.Entries(t.Context(), aggregator.EntryQuery{Filter: f, Limit: 50, Offset: offset})
			if err != nil {
				t.Fatal(err)
			}
			end := min(offset+50, len(want))
			if page.Total != int64(len(want)) {
				t.Fatalf("%+v offset %d: total %d, want %d", f, offset, page.Total, len(want))
			}
			if diff := gocmp.Diff(want[offset:end], page.Entries); diff != "" {
				t.Fatalf("%+v offset %d (-want +got):\n%.2000s", f, offset, diff)
			}
		}
	}
}
