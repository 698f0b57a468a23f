package regex_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hooktail/hooktail/plugins/internal/parsertest"
)

// benchLines are Python logging lines of about 160 bytes (162 on average).
var benchLines = []string{
	`2026-07-31 10:15:02,101 INFO     [webhook_server.app] [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c]: Processing webhook for github-webhook-server (attempt 1 of 3, queue 0)`,
	`2026-07-31 10:15:02,250 DEBUG    [webhook_server.github] GET /repos/myk-org/github-webhook-server/pulls/890 -> 200 in 182ms (rate limit 4821, etag W/1)`,
	`2026-07-31 10:15:03,912 ERROR    [webhook_server.app] [check_run][96d21c70-65df-11f0-89ca-d82effeb540d]: Clone failed: exit status 128 after 812ms (retrying in 2s)`,
	`2026-07-31 10:15:09,826 WARNING  [webhook_server.github] Rate limit low: 42 requests left until 2026-07-31 11:00:00 for myakove-bot, slowing down 1s/request`,
}

const benchConfig = `{
  "pattern": "^(?P<time>\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2},\\d{3}) (?P<level>[A-Z]+) +\\[(?P<logger>[^\\]]+)\\] (?:\\[(?P<event_type>[^\\]]+)\\]\\[(?P<hook_id>[^\\]]+)\\]: )?(?P<msg>.*)$",
  "start_pattern": "^\\d{4}-\\d{2}-\\d{2} "
}`

func BenchmarkParse(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			recs, size := parsertest.BenchLines(benchLines, n)
			parsertest.BenchParse(b, parsertest.Configured(b, newParser, json.RawMessage(benchConfig)), recs, size)
		})
	}
}
