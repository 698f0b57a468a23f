package export_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator/export"
)

var (
	since = time.Date(2026, 7, 31, 10, 0, 0, 0, time.UTC)
	till  = time.Date(2026, 7, 31, 11, 0, 0, 0, time.UTC)
)

// defaults is the request of the smallest valid body.
func defaults() export.Request {
	return export.Request{Format: export.FormatCSV, Filter: export.Filter{
		Since: since, Till: till, Scope: export.Scope{All: true}}}
}

func TestParseRequest(t *testing.T) {
	const minimal = `"sinceDateTimeUtc": "2026-07-31 10:00", "tillDateTimeUtc": "2026-07-31 11:00"`
	with := func(fn func(r *export.Request)) export.Request {
		r := defaults()
		fn(&r)
		return r
	}
	ok := map[string]struct {
		body string
		want export.Request
	}{
		"defaults": {`{` + minimal + `}`, defaults()},
		"seed example": {`{"exportId": "exp-1", ` + minimal + `, "resultState": "failed", "hasErrors": "true",
			"endpoint": {"ids": {"externalId": "webhook-server"}},
			"operations": [{"ids": {"systemName": "push"}}, {"ids": {"systemName": "pull_request"}}, {"ids": {"systemName": "push"}}],
			"format": "jsonl"}`,
			with(func(r *export.Request) {
				r.ID, r.Format = "exp-1", export.FormatJSONL
				r.Filter.ResultState, r.Filter.HasErrors = export.ResultFailed, new(true)
				r.Filter.Endpoint, r.Filter.Operations = "webhook-server", []string{"pull_request", "push"}
			})},
		"rfc 3339 with offset": {`{"sinceDateTimeUtc": "2026-07-31T12:00:00+02:00", "tillDateTimeUtc": "2026-07-31T11:00:00.0000001Z"}`,
			defaults()},
		"seconds and T": {`{"sinceDateTimeUtc": "2026-07-31T10:00:00", "tillDateTimeUtc": "2026-07-31 11:00:00"}`, defaults()},
		"bare dates": {`{"sinceDateTimeUtc": "2026-07-31", "tillDateTimeUtc": "2026-08-01"}`,
			with(func(r *export.Request) {
				r.Filter.Since, r.Filter.Till = since.Truncate(24*time.Hour), since.Truncate(24*time.Hour).Add(24*time.Hour)
			})},
		"nulls and empties": {`{"exportId": "", ` + minimal + `, "resultState": null, "hasErrors": "", "endpoint": null,
			"operations": [], "format": ""}`, defaults()},
		"hasErrors false": {`{` + minimal + `, "hasErrors": false}`,
			with(func(r *export.Request) { r.Filter.HasErrors = new(false) })},
		"case of enums": {`{` + minimal + `, "resultState": "Completed", "hasErrors": "FALSE", "format": "CSV"}`,
			with(func(r *export.Request) { r.Filter.ResultState, r.Filter.HasErrors = export.ResultCompleted, new(false) })},
	}
	for name, tc := range ok {
		t.Run(name, func(t *testing.T) {
			got, err := export.ParseRequest([]byte(tc.body))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if diff := gocmp.Diff(tc.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}

	bad := map[string]struct {
		body, field, msg string
	}{
		"empty body":       {``, "", "empty"},
		"not an object":    {`[1]`, "", "JSON object"},
		"string body":      {`"x"`, "", "JSON object"},
		"syntax":           {`{"sinceDateTimeUtc": }`, "", "invalid JSON"},
		"truncated":        {`{"sinceDateTimeUtc": "2026-07-31 10:00"`, "", "invalid JSON"},
		"trailing data":    {`{` + minimal + `} {}`, "", "after the JSON object"},
		"unknown field":    {`{` + minimal + `, "limit": 5}`, "", `unknown field "limit"`},
		"unknown nested":   {`{` + minimal + `, "endpoint": {"ids": {"externalId": "a", "id": 1}}}`, "", `unknown field "id"`},
		"no since":         {`{"tillDateTimeUtc": "2026-07-31 11:00"}`, "sinceDateTimeUtc", "required"},
		"null till":        {`{"sinceDateTimeUtc": "2026-07-31 10:00", "tillDateTimeUtc": null}`, "tillDateTimeUtc", "required"},
		"bad since":        {`{"sinceDateTimeUtc": "31/07/2026", "tillDateTimeUtc": "2026-07-31 11:00"}`, "sinceDateTimeUtc", "YYYY-MM-DD hh:mm"},
		"bad till":         {`{"sinceDateTimeUtc": "2026-07-31 10:00", "tillDateTimeUtc": "2026-07-31 25:00"}`, "tillDateTimeUtc", "invalid date"},
		"year 0":           {`{"sinceDateTimeUtc": "0000-01-01 00:00", "tillDateTimeUtc": "2026-07-31 11:00"}`, "sinceDateTimeUtc", "out of range"},
		"number since":     {`{"sinceDateTimeUtc": 1722420000, "tillDateTimeUtc": "2026-07-31 11:00"}`, "sinceDateTimeUtc", "must be a string"},
		"since = till":     {`{"sinceDateTimeUtc": "2026-07-31 10:00", "tillDateTimeUtc": "2026-07-31T10:00:00Z"}`, "sinceDateTimeUtc", "before tillDateTimeUtc"},
		"since > till":     {`{"sinceDateTimeUtc": "2026-07-31 12:00", "tillDateTimeUtc": "2026-07-31 11:00"}`, "sinceDateTimeUtc", "before"},
		"bad resultState":  {`{` + minimal + `, "resultState": "timeout"}`, "resultState", "completed, failed or processing"},
		"bad hasErrors":    {`{` + minimal + `, "hasErrors": "yes"}`, "hasErrors", "true or false"},
		"number hasErrors": {`{` + minimal + `, "hasErrors": 1}`, "hasErrors", "true or false"},
		"bad format":       {`{` + minimal + `, "format": "xlsx"}`, "format", "csv or jsonl"},
		"no externalId":    {`{` + minimal + `, "endpoint": {"ids": {}}}`, "endpoint.ids.externalId", "required"},
		"empty endpoint":   {`{` + minimal + `, "endpoint": {}}`, "endpoint.ids.externalId", "required"},
		"endpoint string":  {`{` + minimal + `, "endpoint": "a"}`, "endpoint", "an object"},
		"no systemName":    {`{` + minimal + `, "operations": [{"ids": {"systemName": ""}}]}`, "operations[0].ids.systemName", "required"},
		"null operation":   {`{` + minimal + `, "operations": [{"ids": {"systemName": "a"}}, null]}`, "operations[1].ids.systemName", "required"},
		"operations obj":   {`{` + minimal + `, "operations": {"ids": {}}}`, "operations", "an array"},
		"long endpoint":    {`{` + minimal + `, "endpoint": {"ids": {"externalId": "` + strings.Repeat("e", 257) + `"}}}`, "endpoint.ids.externalId", "longer"},
		"slash in id":      {`{"exportId": "a/b", ` + minimal + `}`, "exportId", "printable ASCII"},
		"space in id":      {`{"exportId": "a b", ` + minimal + `}`, "exportId", "printable ASCII"},
		"long id":          {`{"exportId": "` + strings.Repeat("i", 129) + `", ` + minimal + `}`, "exportId", "1 to 128"},
		"number id":        {`{"exportId": 7, ` + minimal + `}`, "exportId", "must be a string"},
		"too many ops": {`{` + minimal + `, "operations": [` + strings.Repeat(`{"ids": {"systemName": "x"}},`, 100) +
			`{"ids": {"systemName": "y"}}]}`, "operations", "more than 100"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := export.ParseRequest([]byte(tc.body))
			var re *export.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("ParseRequest = %v, want a *RequestError", err)
			}
			if re.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q (field %q), want field %q and a message with %q", err, re.Field, tc.field, tc.msg)
			}
		})
	}
}

func TestRequestHash(t *testing.T) {
	parse := func(body string) export.Request {
		t.Helper()
		r, err := export.ParseRequest([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	base := parse(`{"exportId": "a", "sinceDateTimeUtc": "2026-07-31 10:00", "tillDateTimeUtc": "2026-07-31 11:00",
		"operations": [{"ids": {"systemName": "push"}}, {"ids": {"systemName": "check_run"}}]}`)
	same := parse(`{"format": "csv", "exportId": "b", "tillDateTimeUtc": "2026-07-31T11:00:00Z", "sinceDateTimeUtc": "2026-07-31T10:00:00Z",
		"operations": [{"ids": {"systemName": "check_run"}}, {"ids": {"systemName": "push"}}, {"ids": {"systemName": "push"}}]}`)
	if base.Hash() != same.Hash() {
		t.Errorf("equivalent requests hash differently: %+v vs %+v", base, same)
	}
	for name, fn := range map[string]func(r *export.Request){
		"format":     func(r *export.Request) { r.Format = export.FormatJSONL },
		"since":      func(r *export.Request) { r.Filter.Since = r.Filter.Since.Add(time.Microsecond) },
		"state":      func(r *export.Request) { r.Filter.ResultState = export.ResultFailed },
		"errors":     func(r *export.Request) { r.Filter.HasErrors = new(false) },
		"endpoint":   func(r *export.Request) { r.Filter.Endpoint = "x" },
		"operations": func(r *export.Request) { r.Filter.Operations = []string{"push"} },
		"scope":      func(r *export.Request) { r.Filter.Scope = export.Scope{Endpoints: []string{"x"}} },
	} {
		r := base
		fn(&r)
		r.Normalize()
		if r.Hash() == base.Hash() {
			t.Errorf("changing the %s keeps the hash", name)
		}
	}
}

// FuzzParseRequest: any body either parses into a valid request whose
// stored form (JSON) round-trips to the same hash, or is a RequestError.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"sinceDateTimeUtc": "2026-07-31 10:00", "tillDateTimeUtc": "2026-07-31 11:00"}`,
		`{"exportId": "x", "sinceDateTimeUtc": "2026-07-31T10:00:00+02:00", "tillDateTimeUtc": "2026-07-31 11:00", "resultState": "failed",
		 "hasErrors": true, "endpoint": {"ids": {"externalId": "a"}}, "operations": [{"ids": {"systemName": "push"}}], "format": "jsonl"}`,
		`{"hasErrors": "false"}`, `[]`, `null`, `{"sinceDateTimeUtc": "9999-12-31 23:59", "tillDateTimeUtc": "0001-01-01"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := export.ParseRequest(body)
		if err != nil {
			var re *export.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("ParseRequest error %v is not a *RequestError", err)
			}
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("parsed request does not validate: %v", err)
		}
		raw, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back export.Request
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", raw, err)
		}
		if back.Hash() != req.Hash() {
			t.Fatalf("stored request %s hashes differently", raw)
		}
	})
}
