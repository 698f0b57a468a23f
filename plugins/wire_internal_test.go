package plugins

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"

	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// wireEntries are entries that exercise every field and its edges.
func wireEntries() []Entry {
	full := fullEntry()
	emptyParts := Entry{Message: "empty parts", Completion: &Completion{Steps: []Step{{}}, Error: &ErrorInfo{}}, TokenSpend: ptr(0)}
	negative := Entry{TimestampUS: MinTimestampUS, Kind: -3, DedupeKey: 1<<64 - 1, Completion: &Completion{StartedAtUS: -1, DurationMS: ptr(-5)}}
	return []Entry{full, {}, emptyParts, negative, {Message: "ünïcode ✓", Details: json.RawMessage(`[]`)}}
}

// TestWireResponse: the hand-written codec and the generated one agree,
// byte for byte and field for field.
func TestWireResponse(t *testing.T) {
	entries := wireEntries()
	hand := appendParseResponse(nil, entries)
	generated, err := proto.MarshalOptions{Deterministic: true}.Marshal(&hooktailv1.ParseResponse{Entries: entriesToProto(entries)})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if !bytes.Equal(hand, generated) {
		t.Errorf("hand-encoded ParseResponse differs from the generated encoding:\nhand      %x\ngenerated %x", hand, generated)
	}
	got, err := decodeParseResponse(nil, newWireReader(generated))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if diff := cmp.Diff(entries, got); diff != "" {
		t.Errorf("hand decoding of the generated encoding (-want +got):\n%s", diff)
	}
	if n := parseResponseSize(entries); n < len(hand)/2 {
		t.Errorf("parseResponseSize=%d, far below the %d bytes encoded", n, len(hand))
	}
}

func TestWireRequest(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no zone database: %v", err)
	}
	req := &ParseRequest{
		Records: []Record{
			{Data: []byte("a\nb"), File: "/l/x.log", Offset: 7},
			{Data: []byte{0xff, 0}, File: "/l/x.log", Offset: 1 << 40},
			{Data: []byte{}, File: "", Offset: -1},
			{Data: []byte("z"), File: "/l/y.log"},
		},
		Location: loc,
	}
	hand := appendParseRequest(nil, req)
	generated, err := proto.MarshalOptions{Deterministic: true}.Marshal(parseRequestToProto(req))
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if !bytes.Equal(hand, generated) {
		t.Errorf("hand-encoded ParseRequest differs from the generated encoding:\nhand      %x\ngenerated %x", hand, generated)
	}
	if n := parseRequestSize(req); n < len(hand) {
		t.Errorf("parseRequestSize=%d, below the %d bytes encoded", n, len(hand))
	}
	got, tz, err := decodeParseRequest(nil, generated)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if tz != "Europe/Berlin" {
		t.Errorf("timezone %q, want Europe/Berlin", tz)
	}
	want := req.Records
	want[2].Data = nil // an empty bytes field is not on the wire
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	// A parser appending to a record's data must not overwrite the next.
	_ = append(got[0].Data, 'X')
	if got[1].Data[0] != 0xff {
		t.Errorf("appending to record 0 changed record 1")
	}
	if &got[0].File == &got[1].File || got[0].File != got[1].File {
		t.Errorf("files of consecutive records: %q, %q", got[0].File, got[1].File)
	}
}

func TestWireMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"truncated tag":     {0x80},
		"truncated length":  {0x0a, 0x85},
		"length past end":   {0x0a, 0x05, 0x01},
		"bad nested entry":  {0x0a, 0x02, 0x4a, 0x05},
		"unterminated grp":  {0x0b},
		"zero field number": {0x02, 0x00},
	} {
		if _, err := decodeParseResponse(nil, newWireReader(b)); err == nil {
			t.Errorf("%s: response decoded without error", name)
		}
		if _, _, err := decodeParseRequest(nil, b); err == nil && name != "bad nested entry" {
			t.Errorf("%s: request decoded without error", name)
		}
	}
}

// FuzzWireResponse: whatever the generated code decodes, the hand-written
// decoder decodes to the same entries.
func FuzzWireResponse(f *testing.F) {
	seed := appendParseResponse(nil, wireEntries())
	f.Add(seed)
	f.Add([]byte{0x0a, 0x00, 0x0a, 0x03, 0xc8, 0x01, 0x05})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeParseResponse(nil, newWireReader(bytes.Clone(b)))
		var resp hooktailv1.ParseResponse
		if proto.Unmarshal(b, &resp) != nil {
			return // invalid UTF-8 among others: the hand decoder leaves that to CheckEntry
		}
		if err != nil {
			t.Fatalf("the generated code decodes it, the hand decoder fails: %v", err)
		}
		want := make([]Entry, len(resp.GetEntries()))
		for i, w := range resp.GetEntries() {
			entryFromProto(&want[i], w)
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("hand decoding differs (-generated +hand):\n%s", diff)
		}
	})
}

// FuzzWireRequest: the same for the plugin's side.
func FuzzWireRequest(f *testing.F) {
	f.Add(appendParseRequest(nil, &ParseRequest{Records: []Record{{Data: []byte("x"), File: "f", Offset: 3}}, Location: time.UTC}))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, tz, err := decodeParseRequest(nil, bytes.Clone(b))
		var req hooktailv1.ParseRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		if err != nil {
			t.Fatalf("the generated code decodes it, the hand decoder fails: %v", err)
		}
		if tz != req.GetTimezone() {
			t.Fatalf("timezone %q, generated %q", tz, req.GetTimezone())
		}
		want := recordsFromProto(nil, req.GetRecords())
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("hand decoding differs (-generated +hand):\n%s", diff)
		}
	})
}
