package plugins

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

func ptr(v int64) *int64 { return &v }

// fullEntry sets every field of an Entry, and of what it holds, to a value
// other than the zero value; TestFullEntryIsFull keeps it so as fields are
// added.
func fullEntry() Entry {
	return Entry{
		TimestampUS:  1753956902101877,
		TimestampRaw: "2025-07-31T10:15:02.101877+00:00",
		Level:        "ERROR",
		LoggerName:   "GithubWebhook",
		Message:      "Unexpected error\nTraceback (most recent call last):\n  boom",
		HookID:       "6143a030-bbd7-11f0-95bd-b07354b8711c",
		EventType:    "pull_request",
		Repository:   "github-webhook-server",
		PRNumber:     890,
		GithubUser:   "myakove-bot",
		TaskID:       "check_tox",
		TaskType:     "ci_check",
		TaskStatus:   "failed",
		TokenSpend:   ptr(1234),
		Step:         "check_tox",
		ExcInfo:      "Traceback …",
		ParseError:   true,
		Truncated:    true,
		Details:      json.RawMessage(`{"extra":"é"}`),
		Kind:         KindDeliverySummary,
		Completion: &Completion{
			Status:     "partial",
			DurationMS: ptr(5012),
			PRNumber:   890,
			TokenSpend: ptr(99),
			Steps: []Step{{
				Name:        "check_tox",
				Status:      "failed",
				StartedAtUS: 1753956903000000,
				DurationMS:  ptr(4000),
				Error:       &ErrorInfo{Type: "RuntimeError", Message: "tox failed", Traceback: "tb"},
				Details:     json.RawMessage(`{"retries":2}`),
			}},
			Action:             "opened",
			Sender:             "octocat",
			RepositoryFullName: "myk-org/github-webhook-server",
			PRTitle:            "Fix it",
			APIUser:            "myakove-bot",
			StartedAtUS:        1753956902000000,
			CompletedAtUS:      1753956907012000,
			Error:              &ErrorInfo{Type: "E", Message: "m", Traceback: "t"},
		},
		DedupeKey: 0xfeedface,
	}
}

// zeroFields lists the fields of v (a struct) left at their zero value,
// looking into structs, pointers and slices.
func zeroFields(prefix string, v reflect.Value) []string {
	var out []string
	for i := range v.NumField() {
		f, name := v.Field(i), prefix+v.Type().Field(i).Name
		if f.IsZero() {
			out = append(out, name)
			continue
		}
		switch {
		case f.Kind() == reflect.Pointer && f.Elem().Kind() == reflect.Struct:
			out = append(out, zeroFields(name+".", f.Elem())...)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			for j := range f.Len() {
				out = append(out, zeroFields(name+".", f.Index(j))...)
			}
		}
	}
	return out
}

func TestFullEntryIsFull(t *testing.T) {
	e := fullEntry()
	if z := zeroFields("", reflect.ValueOf(e)); len(z) > 0 {
		t.Fatalf("fullEntry leaves fields zero, so their conversion is not tested: %v", z)
	}
}

// TestEntryRoundTrip converts every field both ways.
func TestEntryRoundTrip(t *testing.T) {
	in := fullEntry()
	var w hooktailv1.Entry
	entryToProto(&w, &in)

	// Every wire field is set but the agent's identity fields.
	identity := map[protoreflect.Name]bool{"source": true, "fingerprint": true, "offset": true, "file": true}
	var unset []string
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if m.Descriptor().Name() == "Entry" && identity[fd.Name()] {
				continue
			}
			if !m.Has(fd) {
				unset = append(unset, string(m.Descriptor().Name())+"."+string(fd.Name()))
				continue
			}
			switch {
			case fd.IsList() && fd.Message() != nil:
				l := m.Get(fd).List()
				for j := range l.Len() {
					walk(l.Get(j).Message())
				}
			case fd.Message() != nil:
				walk(m.Get(fd).Message())
			}
		}
	}
	walk(w.ProtoReflect())
	if len(unset) > 0 {
		t.Errorf("entryToProto leaves wire fields unset: %v", unset)
	}

	// Through the wire bytes, as the plugin protocol carries it.
	b, err := proto.Marshal(&w)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var back hooktailv1.Entry
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	var out Entry
	entryFromProto(&out, &back)
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-in +out):\n%s", diff)
	}
}

// TestEntryZeroRoundTrip: empty optional parts stay empty, not zero-valued.
func TestEntryZeroRoundTrip(t *testing.T) {
	var w hooktailv1.Entry
	entryToProto(&w, &Entry{})
	if w.PrNumber != nil || w.TokenSpend != nil || w.Completion != nil || w.DetailsJson != "" {
		t.Errorf("zero entry sets optional wire fields: %v", &w)
	}
	var out Entry
	entryFromProto(&out, &w)
	if diff := cmp.Diff(Entry{}, out); diff != "" {
		t.Errorf("zero round trip (-want +got):\n%s", diff)
	}
}

func TestDescriptionRoundTrip(t *testing.T) {
	in := Description{Name: "p", StartPattern: `^\d`, LinePerRecordFiles: []string{"webhooks_*.json", "*.jsonl"}}
	if z := zeroFields("", reflect.ValueOf(in)); len(z) > 0 {
		t.Fatalf("test description leaves fields zero: %v", z)
	}
	w := descriptionToProto(in)
	if got, want := w.GetProtocolVersion(), uint32(ProtocolVersion); got != want {
		t.Errorf("protocol_version=%d, want %d", got, want)
	}
	out, version := descriptionFromProto(w)
	if version != ProtocolVersion {
		t.Errorf("version=%d, want %d", version, ProtocolVersion)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-in +out):\n%s", diff)
	}
}

func TestDiagnosticsRoundTrip(t *testing.T) {
	in := Diagnostics{
		{Severity: SeverityError, Summary: "bad", Detail: "very bad", Attribute: "pattern"},
		{Severity: SeverityWarning, Summary: "meh", Detail: "d", Attribute: "a"},
	}
	for _, d := range in {
		if z := zeroFields("", reflect.ValueOf(d)); len(z) > 0 {
			t.Fatalf("test diagnostic leaves fields zero: %v", z)
		}
	}
	if diff := cmp.Diff(in, diagnosticsFromProto(diagnosticsToProto(in))); diff != "" {
		t.Errorf("round trip (-in +out):\n%s", diff)
	}
	// A severity the agent does not know counts as an error.
	got := diagnosticsFromProto([]*hooktailv1.Diagnostic{{Severity: "fatal", Summary: "x"}, {Summary: "y"}})
	for _, d := range got {
		if d.Severity != SeverityError {
			t.Errorf("severity of %+v: %q, want error", d, d.Severity)
		}
	}
}

func TestParseRequestRoundTrip(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Jerusalem")
	if err != nil {
		t.Skipf("no zone database: %v", err)
	}
	in := &ParseRequest{
		Records:  []Record{{Data: []byte("a\nb"), File: "/l/x.log", Offset: 7}, {Data: []byte{0xff, 0}, File: "/l/y.log", Offset: 1 << 40}},
		Location: loc,
	}
	w := parseRequestToProto(in)
	if got, want := w.GetTimezone(), "Asia/Jerusalem"; got != want {
		t.Errorf("timezone=%q, want %q", got, want)
	}
	if diff := cmp.Diff(in.Records, recordsFromProto(nil, w.GetRecords())); diff != "" {
		t.Errorf("records round trip (-in +out):\n%s", diff)
	}
	s := newGRPCServer(nil)
	got, err := s.location(w.GetTimezone())
	if err != nil || got.String() != "Asia/Jerusalem" {
		t.Errorf("location(%q) = %v, %v", w.GetTimezone(), got, err)
	}
	if _, err := s.location("No/Such_Zone"); err == nil {
		t.Errorf("location of an unknown zone: no error")
	}
	if got := timezoneToProto(nil); got != "" {
		t.Errorf("timezoneToProto(nil)=%q, want \"\"", got)
	}
}

func TestCheckEntry(t *testing.T) {
	f := func(name string, mutate func(e *Entry), wantErr bool) {
		t.Helper()
		e := fullEntry()
		e.Kind = KindLog
		mutate(&e)
		if err := CheckEntry(&e); (err != nil) != wantErr {
			t.Errorf("%s: CheckEntry=%v, want error %v", name, err, wantErr)
		}
	}
	f("full", func(*Entry) {}, false)
	f("min time", func(e *Entry) { e.TimestampUS = MinTimestampUS }, false)
	f("max time", func(e *Entry) { e.TimestampUS = MaxTimestampUS }, false)
	f("before year 1", func(e *Entry) { e.TimestampUS = MinTimestampUS - 1 }, true)
	f("after year 9999", func(e *Entry) { e.TimestampUS = MaxTimestampUS + 1 }, true)
	f("completion time", func(e *Entry) { e.Completion.CompletedAtUS = -1 << 62 }, true)
	f("step time", func(e *Entry) { e.Completion.Steps[0].StartedAtUS = 1 << 62 }, true)
	f("unknown kind", func(e *Entry) { e.Kind = 7 }, true)
	f("message", func(e *Entry) { e.Message = "a\xffb" }, true)
	f("details", func(e *Entry) { e.Details = json.RawMessage("\"\xc3\"") }, true)
	f("completion sender", func(e *Entry) { e.Completion.Sender = "\xed\xa0\x80" }, true)
	f("completion error", func(e *Entry) { e.Completion.Error.Traceback = "\xff" }, true)
	f("step name", func(e *Entry) { e.Completion.Steps[0].Name = "\xff" }, true)
	f("step error", func(e *Entry) { e.Completion.Steps[0].Error.Type = "\xff" }, true)
	f("step details", func(e *Entry) { e.Completion.Steps[0].Details = []byte{0xff} }, true)

	if min, max := time.UnixMicro(MinTimestampUS).UTC(), time.UnixMicro(MaxTimestampUS).UTC(); min.Year() != 1 || max.Year() != 9999 ||
		!min.Equal(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)) || !max.Add(time.Microsecond).Equal(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("timestamp bounds %v .. %v, want years 1 .. 9999 exactly", min, max)
	}
}

func TestRawEntry(t *testing.T) {
	e := RawEntry([]byte("ok \xff\x00 end"))
	if !e.ParseError || e.Message != "ok \uFFFD\x00 end" {
		t.Errorf("RawEntry = %+v", e)
	}
	if err := CheckEntry(&e); err != nil {
		t.Errorf("RawEntry cannot be shipped: %v", err)
	}
}

// FuzzParseResponse feeds arbitrary bytes to the agent's side of Parse: an
// answer that decodes becomes entries the agent can ship, each of them.
func FuzzParseResponse(f *testing.F) {
	full := fullEntry()
	var w hooktailv1.Entry
	entryToProto(&w, &full)
	seed, _ := proto.Marshal(&hooktailv1.ParseResponse{Entries: []*hooktailv1.Entry{&w, {Message: "x", TimestampUs: 1 << 62, Kind: 9}}})
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var resp hooktailv1.ParseResponse
		if proto.Unmarshal(b, &resp) != nil {
			return
		}
		records := make([]Record, len(resp.GetEntries()))
		entries := make([]Entry, len(records))
		for i, w := range resp.GetEntries() {
			records[i] = Record{Data: []byte{byte(i), 0xff}}
			entryFromProto(&entries[i], w)
		}
		fixEntries(entries, records)
		for i := range entries {
			if err := CheckEntry(&entries[i]); err != nil {
				t.Fatalf("entry %d still cannot be shipped after the edge check: %v", i, err)
			}
		}
	})
}
