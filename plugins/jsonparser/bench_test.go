package jsonparser_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/internal/parsertest"
	"github.com/hooktail/hooktail/plugins/jsonparser"
)

// benchLines are realistic JSON log lines of about 160 bytes (165 on
// average): zap, slog, logrus and the webhook server's log_entry shapes,
// mapped and unmapped keys, numbers, an escape.
var benchLines = []string{
	`{"level":"info","ts":1785492902.101877,"caller":"server/main.go:88","msg":"processing webhook","hook_id":"6143a030-bbd7-11f0","pr_number":890,"attempt":1,"ok":true}`,
	`{"time":"2026-07-31T10:15:02.114Z","level":"DEBUG","msg":"fetched pull request","repository":"github-webhook-server","status":200,"took_ms":182,"cached":false,"etag":"W/1"}`,
	`{"timestamp":"2026-07-31T10:15:03.910012+00:00","level":"INFO","logger_name":"GithubWebhook","message":"Step \"repo_clone\" completed","step":"repo_clone","ms":1203}`,
	`{"time":"2026-07-31T10:15:09.826511Z","level":"warning","msg":"rate limit low","remaining":42,"api_user":"myakove-bot","reset":"2026-07-31T11:00:00Z","retry":0}`,
}

func BenchmarkParse(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			recs, size := parsertest.BenchLines(benchLines, n)
			parsertest.BenchParse(b, jsonparser.New(), recs, size)
		})
	}
}

// BenchmarkUnmarshal is the yardstick the hand-written scanner is measured
// against: encoding/json decoding the same lines into a map, which is
// only part of the work (no mapping, timestamp, details or entries).
func BenchmarkUnmarshal(b *testing.B) {
	recs, size := parsertest.BenchLines(benchLines, 1000)
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		for _, r := range recs {
			var m map[string]any
			if err := json.Unmarshal(r.Data, &m); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}

var _ plugins.Parser = jsonparser.New()
