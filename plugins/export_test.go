package plugins

import hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"

// Hooks for the external benchmarks of the protocol edge.

// EncodeParseResponse encodes entries as the plugin's side does.
func EncodeParseResponse(entries []Entry, records []Record) []byte {
	fixEntries(entries, records)
	return appendParseResponse(make([]byte, 0, parseResponseSize(entries)), entries)
}

// DecodeParseResponse decodes an answer as the agent's side does.
func DecodeParseResponse(dst []Entry, b []byte, records []Record) ([]Entry, error) {
	dst, err := decodeParseResponse(dst, newWireReader(b))
	fixEntries(dst, records)
	return dst, err
}

// GeneratedParseResponse is the ParseResponse of entries as the generated
// code builds it.
func GeneratedParseResponse(entries []Entry) *hooktailv1.ParseResponse {
	return &hooktailv1.ParseResponse{Entries: entriesToProto(entries)}
}

// GeneratedEntryFromProto converts as the generated code's reference does.
func GeneratedEntryFromProto(e *Entry, w *hooktailv1.Entry) { entryFromProto(e, w) }
