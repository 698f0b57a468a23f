package export

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Columns are the columns of an export, in order (seed 001, SPEC §5.4).
// A JSON Lines export uses them as the keys of each object.
var Columns = []string{
	"OperationLogTransactionId",
	"OperationLogStartDateTimeUtc",
	"OperationLogEndDateTimeUtc",
	"OperationLogOperationSystemName",
	"OperationLogOperationName",
	"OperationLogEndpointExternalId",
	"OperationLogIntegrationName",
	"OperationLogHasErrors",
	"OperationLogErrorMessages",
	"OperationLogDevice",
	"OperationLogStatus",
	"OperationLogHttpMethod",
	"OperationLogUrl",
	"OperationLogRequestHeaders",
	"OperationLogRequestBody",
	"OperationLogHTTPStatusCode",
	"OperationLogResponseHeaders",
	"OperationLogResponseBody",
}

// record is one row in column order, as a JSON Lines object. A nil value
// is one the logs do not carry: null in JSON, an empty field in CSV. The
// device, HTTP method, URL, bodies, status code and response headers are
// never in the logs; the request headers are the two the logs do carry.
type record struct {
	TransactionID       string             `json:"OperationLogTransactionId"`
	Start               *string            `json:"OperationLogStartDateTimeUtc"`
	End                 *string            `json:"OperationLogEndDateTimeUtc"`
	OperationSystemName *string            `json:"OperationLogOperationSystemName"`
	OperationName       *string            `json:"OperationLogOperationName"`
	EndpointExternalID  *string            `json:"OperationLogEndpointExternalId"`
	IntegrationName     *string            `json:"OperationLogIntegrationName"`
	HasErrors           bool               `json:"OperationLogHasErrors"`
	ErrorMessages       *string            `json:"OperationLogErrorMessages"`
	Device              *string            `json:"OperationLogDevice"`
	Status              ResultState        `json:"OperationLogStatus"`
	HTTPMethod          *string            `json:"OperationLogHttpMethod"`
	URL                 *string            `json:"OperationLogUrl"`
	RequestHeaders      *requestHeaders    `json:"OperationLogRequestHeaders"`
	RequestBody         *string            `json:"OperationLogRequestBody"`
	HTTPStatusCode      *int               `json:"OperationLogHTTPStatusCode"`
	ResponseHeaders     *map[string]string `json:"OperationLogResponseHeaders"`
	ResponseBody        *string            `json:"OperationLogResponseBody"`
}

// requestHeaders are the request headers the logs carry: upstream's hook
// id is the X-GitHub-Delivery value and the event type the X-GitHub-Event
// value (names lower-cased, as the deliveries API writes them).
type requestHeaders struct {
	Delivery string `json:"x-github-delivery"`
	Event    string `json:"x-github-event,omitempty"`
}

// newRecord renders a row.
func newRecord(r *Row) record {
	d := &r.Delivery
	rec := record{
		TransactionID:      d.HookID,
		Start:              timeOrNil(d.ReceivedAt),
		End:                timeOrNil(d.CompletedAt),
		EndpointExternalID: strOrNil(d.Service),
		IntegrationName:    strOrNil(d.Service),
		HasErrors:          d.HasErrors,
		ErrorMessages:      strOrNil(errorText(r)),
		Status:             ResultStateOf(d.State),
		RequestHeaders:     &requestHeaders{Delivery: d.HookID, Event: d.EventType},
	}
	if d.EventType != "" {
		rec.OperationSystemName = strOrNil(d.EventType)
		name := d.EventType
		if d.Action != "" {
			name += "." + d.Action
		}
		rec.OperationName = &name
	}
	return rec
}

// errorText is OperationLogErrorMessages: the delivery's error (failed,
// timeout), else, for a delivery with errors, its latest ERROR entry's,
// else its first failed step's. An error is its message and traceback, a
// line apart (its type when it has neither).
func errorText(r *Row) string {
	d := &r.Delivery
	e := d.Error
	if e == nil && d.HasErrors {
		e = r.LastError
		for i := 0; e == nil && i < len(d.Steps); i++ {
			if d.Steps[i].Status == "failed" {
				e = d.Steps[i].Error
			}
		}
	}
	if e == nil {
		return ""
	}
	var parts []string
	for _, p := range []string{e.Message, e.Traceback} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return e.Type
	}
	return strings.Join(parts, "\n")
}

// FormatTime writes a time as the exports do: RFC 3339 in UTC with a Z,
// microseconds when there are any.
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
}

func timeOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := FormatTime(t)
	return &s
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Writer writes export rows in one format. CSV follows RFC 4180 (a
// header line, CRLF line ends, fields with separators, quotes or line
// breaks quoted; a line break inside a field is written CRLF too); JSON
// Lines writes one object per line with the columns as keys, in order.
// Errors stick: after one, every call returns it.
type Writer struct {
	format Format
	csv    *csv.Writer
	json   *json.Encoder
	buf    *bufio.Writer
	fields []string
	err    error
}

// NewWriter returns a Writer on w; a CSV writer writes the header first.
// Writes are buffered until Flush.
func NewWriter(w io.Writer, f Format) (*Writer, error) {
	out := &Writer{format: f, buf: bufio.NewWriterSize(w, 64<<10)}
	switch f {
	case FormatCSV:
		out.csv = csv.NewWriter(out.buf)
		out.csv.UseCRLF = true
		out.fields = make([]string, len(Columns))
		out.err = out.csv.Write(Columns)
	case FormatJSONL:
		out.json = json.NewEncoder(out.buf)
		out.json.SetEscapeHTML(false)
	default:
		return nil, fmt.Errorf("new export writer: unknown format %q", f)
	}
	return out, nil
}

// Write writes one row.
func (w *Writer) Write(r *Row) error {
	if w.err != nil {
		return w.err
	}
	rec := newRecord(r)
	if w.json != nil {
		if err := w.json.Encode(&rec); err != nil {
			w.err = fmt.Errorf("write export row %q: %w", r.Delivery.HookID, err)
		}
		return w.err
	}
	w.fields = rec.strings(w.fields[:0])
	if err := w.csv.Write(w.fields); err != nil {
		w.err = fmt.Errorf("write export row %q: %w", r.Delivery.HookID, err)
	}
	return w.err
}

// Flush writes out everything buffered.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.csv != nil {
		w.csv.Flush()
		if err := w.csv.Error(); err != nil {
			w.err = fmt.Errorf("flush export file: %w", err)
			return w.err
		}
	}
	if err := w.buf.Flush(); err != nil {
		w.err = fmt.Errorf("flush export file: %w", err)
	}
	return w.err
}

// strings appends the record's CSV fields to dst: nil is empty, booleans
// are true/false, the request headers their JSON object.
func (rec *record) strings(dst []string) []string {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	var code string
	if rec.HTTPStatusCode != nil {
		code = strconv.Itoa(*rec.HTTPStatusCode)
	}
	return append(dst,
		rec.TransactionID,
		s(rec.Start),
		s(rec.End),
		s(rec.OperationSystemName),
		s(rec.OperationName),
		s(rec.EndpointExternalID),
		s(rec.IntegrationName),
		strconv.FormatBool(rec.HasErrors),
		s(rec.ErrorMessages),
		s(rec.Device),
		string(rec.Status),
		s(rec.HTTPMethod),
		s(rec.URL),
		jsonText(rec.RequestHeaders),
		s(rec.RequestBody),
		code,
		jsonText(rec.ResponseHeaders),
		s(rec.ResponseBody),
	)
}

// jsonText is v as compact JSON text without HTML escaping, "" for nil.
func jsonText[T any](v *T) string {
	if v == nil {
		return ""
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Strings and maps of strings always encode.
		panic(fmt.Sprintf("BUG: encode %T: %v", v, err))
	}
	return strings.TrimSuffix(b.String(), "\n")
}
