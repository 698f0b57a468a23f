package export

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Limits of a request.
const (
	// MaxIDLen bounds an export ID, in bytes.
	MaxIDLen = 128
	// MaxNameLen bounds an endpoint or operation name, in bytes.
	MaxNameLen = 256
	// MaxOperations bounds the operations of one request.
	MaxOperations = 100
)

// The names of the request body's fields (seed 001), for error messages.
const (
	fieldID         = "exportId"
	fieldSince      = "sinceDateTimeUtc"
	fieldTill       = "tillDateTimeUtc"
	fieldState      = "resultState"
	fieldHasErrors  = "hasErrors"
	fieldEndpoint   = "endpoint.ids.externalId"
	fieldOperations = "operations"
	fieldFormat     = "format"
)

// RequestError is a request that cannot be accepted as it is. Its message
// names the field and says what is expected.
type RequestError struct {
	// Field is the body field at fault ("" for the body as a whole).
	Field string
	Msg   string
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func reqErr(field, format string, args ...any) *RequestError {
	return &RequestError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// wireRequest is seed 001's request body. Pointers tell absent (or null)
// from empty.
type wireRequest struct {
	ExportID    *string         `json:"exportId"`
	Since       *string         `json:"sinceDateTimeUtc"`
	Till        *string         `json:"tillDateTimeUtc"`
	ResultState *string         `json:"resultState"`
	HasErrors   json.RawMessage `json:"hasErrors"`
	Endpoint    *struct {
		IDs *struct {
			ExternalID *string `json:"externalId"`
		} `json:"ids"`
	} `json:"endpoint"`
	Operations []*struct {
		IDs *struct {
			SystemName *string `json:"systemName"`
		} `json:"ids"`
	} `json:"operations"`
	Format *string `json:"format"`
}

// ParseRequest decodes and validates seed 001's request body:
//
//	{"exportId"?, "sinceDateTimeUtc", "tillDateTimeUtc", "resultState"?,
//	 "hasErrors"?, "endpoint"?: {"ids": {"externalId"}},
//	 "operations"?: [{"ids": {"systemName"}}], "format"?: "csv"|"jsonl"}
//
// Times are "YYYY-MM-DD hh:mm" in UTC (seconds and a bare date are also
// accepted) or RFC 3339; till is exclusive and must be after since.
// resultState is completed, failed or processing; hasErrors is a boolean
// (or the string "true"/"false"); format defaults to csv. An absent, null
// or empty optional field does not filter. Unknown fields are an error.
// The returned Request sees every endpoint (Scope.All): a caller serving
// an API key narrows Filter.Scope. Every error is a *RequestError.
func ParseRequest(body []byte) (Request, error) {
	var w wireRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return Request{}, reqErr("", "request body is empty: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Request{}, decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, reqErr("", "unexpected data after the JSON object")
	}
	var req Request
	req.Filter.Scope = Scope{All: true}
	if w.ExportID != nil {
		req.ID = *w.ExportID
	}
	if w.Since == nil {
		return Request{}, reqErr(fieldSince, "is required")
	}
	if w.Till == nil {
		return Request{}, reqErr(fieldTill, "is required")
	}
	var err error
	if req.Filter.Since, err = parseTime(fieldSince, *w.Since); err != nil {
		return Request{}, err
	}
	if req.Filter.Till, err = parseTime(fieldTill, *w.Till); err != nil {
		return Request{}, err
	}
	if w.ResultState != nil {
		req.Filter.ResultState = ResultState(strings.ToLower(strings.TrimSpace(*w.ResultState)))
	}
	if req.Filter.HasErrors, err = parseBool(fieldHasErrors, w.HasErrors); err != nil {
		return Request{}, err
	}
	if e := w.Endpoint; e != nil {
		if e.IDs == nil || e.IDs.ExternalID == nil || *e.IDs.ExternalID == "" {
			return Request{}, reqErr(fieldEndpoint, "is required when endpoint is given")
		}
		req.Filter.Endpoint = *e.IDs.ExternalID
	}
	if len(w.Operations) > MaxOperations {
		return Request{}, reqErr(fieldOperations, "lists more than %d operations", MaxOperations)
	}
	for i, op := range w.Operations {
		if op == nil || op.IDs == nil || op.IDs.SystemName == nil || *op.IDs.SystemName == "" {
			return Request{}, reqErr(fmt.Sprintf("%s[%d].ids.systemName", fieldOperations, i), "is required")
		}
		req.Filter.Operations = append(req.Filter.Operations, *op.IDs.SystemName)
	}
	if w.Format != nil {
		req.Format = Format(strings.ToLower(strings.TrimSpace(*w.Format)))
	}
	req.Normalize()
	if err := req.Validate(); err != nil {
		return Request{}, err
	}
	return req, nil
}

// decodeError turns a JSON decoding error into a RequestError.
func decodeError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return reqErr("", "invalid JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return reqErr("", "want a JSON object, not %s", typ.Value)
		}
		return reqErr(typ.Field, "must be %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return reqErr("", "invalid JSON: the body ends early")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return reqErr("", "unknown field %s", name)
	}
	return reqErr("", "invalid JSON: %s", strings.TrimPrefix(msg, "json: "))
}

// jsonKind names a Go kind as a JSON type.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	}
	return "of another type"
}

// timeLayouts are the accepted time layouts without a zone (UTC).
var timeLayouts = []string{"2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"}

// parseTime parses a request time: a layout of timeLayouts in UTC, or RFC
// 3339. The result is UTC, with microsecond precision (what is stored).
func parseTime(field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	var (
		t   time.Time
		err error
	)
	for _, layout := range timeLayouts {
		if t, err = time.ParseInLocation(layout, s, time.UTC); err == nil {
			break
		}
	}
	if err != nil {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return time.Time{}, reqErr(field, `invalid date %q: use "YYYY-MM-DD hh:mm" (UTC) or RFC 3339`, s)
	}
	t = t.UTC().Truncate(time.Microsecond)
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, reqErr(field, "date %q is out of range (years 0001 to 9999)", s)
	}
	return t, nil
}

// parseBool reads hasErrors: absent, null or "" is unset; true/false as a
// JSON boolean or string.
func parseBool(field string, raw json.RawMessage) (*bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, reqErr(field, "must be true or false")
	}
	switch x := v.(type) {
	case bool:
		return &x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "":
			return nil, nil
		case "true":
			t := true
			return &t, nil
		case "false":
			f := false
			return &f, nil
		}
	}
	return nil, reqErr(field, "must be true or false, not %s", raw)
}

// Normalize puts r in its canonical form: times in UTC with microsecond
// precision, operations and scope endpoints sorted without duplicates, the
// default format. Two requests that export the same rows the same way
// have the same canonical form (and Hash).
func (r *Request) Normalize() {
	if r.Format == "" {
		r.Format = FormatCSV
	}
	f := &r.Filter
	f.Since = f.Since.UTC().Truncate(time.Microsecond)
	f.Till = f.Till.UTC().Truncate(time.Microsecond)
	f.Operations = sortedSet(f.Operations)
	if f.Scope.All {
		f.Scope.Endpoints = nil
	}
	f.Scope.Endpoints = sortedSet(f.Scope.Endpoints)
}

func sortedSet(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// Validate checks a (normalized) request; the error is a *RequestError.
func (r *Request) Validate() error {
	if err := ValidateID(r.ID); r.ID != "" && err != nil {
		return err
	}
	f := &r.Filter
	if f.Since.IsZero() {
		return reqErr(fieldSince, "is required")
	}
	if f.Till.IsZero() {
		return reqErr(fieldTill, "is required")
	}
	if !f.Since.Before(f.Till) {
		return reqErr(fieldSince, "must be before %s (which is exclusive)", fieldTill)
	}
	switch f.ResultState {
	case "", ResultCompleted, ResultFailed, ResultProcessing:
	default:
		return reqErr(fieldState, "must be completed, failed or processing, not %q", string(f.ResultState))
	}
	if len(f.Endpoint) > MaxNameLen {
		return reqErr(fieldEndpoint, "is longer than %d bytes", MaxNameLen)
	}
	if len(f.Operations) > MaxOperations {
		return reqErr(fieldOperations, "lists more than %d operations", MaxOperations)
	}
	for _, op := range f.Operations {
		if op == "" || len(op) > MaxNameLen {
			return reqErr(fieldOperations, "a systemName must have 1 to %d bytes", MaxNameLen)
		}
	}
	switch r.Format {
	case FormatCSV, FormatJSONL:
	default:
		return reqErr(fieldFormat, "must be csv or jsonl, not %q", string(r.Format))
	}
	return nil
}

// ValidateID checks an export ID: 1 to MaxIDLen printable ASCII
// characters, none of / \ ? # % or space, so that it is one path segment
// of the file URL as it is. The error is a *RequestError.
func ValidateID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return reqErr(fieldID, "must have 1 to %d characters", MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`/\?#%`, c) >= 0 {
			return reqErr(fieldID, `may hold printable ASCII characters except space and / \ ? # %%; found %q at byte %d`, c, i)
		}
	}
	return nil
}

// Hash identifies what r exports: the SHA-256 (hex) of the canonical JSON
// of its format and filter (not its ID). Call it on a normalized request.
func (r *Request) Hash() string {
	b, err := json.Marshal(struct {
		Format Format `json:"format"`
		Filter Filter `json:"filter"`
	}{r.Format, r.Filter})
	if err != nil {
		// Strings, times in range and booleans always marshal.
		panic(fmt.Sprintf("BUG: marshal export request: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
