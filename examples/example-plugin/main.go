// Command example-plugin is a hooktail parser plugin for "TIME|LEVEL|HOOK_ID|MESSAGE"
// lines (RFC 3339 TIME; a traceback joins its line). agent.hcl runs it on sample.log.
package main

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hooktail/hooktail/plugins"
)

type parser struct{}

func (parser) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: "pipe-log", StartPattern: `^\d{4}-\d\d-\d\dT[^|]*\|`}, nil
}

func (parser) ValidateConfig(_ context.Context, config json.RawMessage) (plugins.Diagnostics, error) {
	var settings map[string]any
	if err := json.Unmarshal(config, &settings); err != nil || len(settings) > 0 {
		return plugins.Diagnostics{{Severity: plugins.SeverityError, Summary: "pipe-log takes no settings", Detail: string(config)}}, nil
	}
	return nil, nil
}

func (p parser) Configure(ctx context.Context, config json.RawMessage) (plugins.Diagnostics, error) {
	return p.ValidateConfig(ctx, config)
}

func (parser) Parse(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
	for _, r := range req.Records {
		if err := ctx.Err(); err != nil {
			return dst, err
		}
		f := strings.SplitN(string(r.Data), "|", 4)
		t, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil || t.Year() < 1 || len(f) < 4 || !utf8.Valid(r.Data) {
			dst = append(dst, plugins.RawEntry(r.Data)) // kept as read, flagged parse_error
			continue
		}
		dst = append(dst, plugins.Entry{TimestampUS: t.UnixMicro(), TimestampRaw: f[0], Level: f[1], HookID: f[2], Message: f[3]})
	}
	return dst, nil
}

func main() { plugins.Serve(parser{}) }
