package logfmt_test

import (
	"fmt"
	"testing"

	"github.com/hooktail/hooktail/plugins/internal/parsertest"
	"github.com/hooktail/hooktail/plugins/logfmt"
)

// benchLines are realistic logfmt lines of about 160 bytes (162 on
// average): go-kit and slog style, quoted messages, mapped and unmapped
// keys.
var benchLines = []string{
	`ts=2026-07-31T10:15:02.101877Z level=info msg="processing webhook" hook_id=6143a030-bbd7-11f0-95bd-b07354b8711c event_type=pull_request pr_number=890 attempt=1`,
	`time=2026-07-31T10:15:02.114Z level=DEBUG msg="fetched pull request" repository=github-webhook-server pr_number=890 duration=182ms status=200 cached=false cache=miss`,
	`ts=2026-07-31T10:15:03.910012Z level=info msg="step completed" step=repo_clone hook_id=6143a030-bbd7-11f0-95bd-b07354b8711c duration_ms=1203 ref=main depth=50 lfs=off`,
	`ts=2026-07-31T10:15:09.826511Z level=warn msg="rate limit low" remaining=42 reset=2026-07-31T11:00:00Z api_user=myakove-bot caller=github/client.go:88 retry=0`,
}

func BenchmarkParse(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			recs, size := parsertest.BenchLines(benchLines, n)
			parsertest.BenchParse(b, logfmt.New(), recs, size)
		})
	}
}
