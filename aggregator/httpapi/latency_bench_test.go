package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/hooktail/hooktail/aggregator/httpapi"
	"github.com/hooktail/hooktail/aggregator/sqlite"
)

// latencyWarmup is how many requests of an endpoint run unmeasured first.
const latencyWarmup = 20

// BenchmarkEndpointLatency measures per-endpoint latency (p50, p99) of the
// HTTP API through the whole handler stack (routing, access check, store,
// JSON) on an existing database named by HOOKTAIL_BENCH_DB, such as the
// 10M-entry fixture that aggregator/sqlite's benchmarks cache in the temp
// directory. It only reads: the database's migrations must already be
// applied, and retention is off. Without HOOKTAIL_BENCH_DB it is skipped,
// so `make bench` stays bounded. Each endpoint runs latencyWarmup requests,
// then b.N measured ones (use -benchtime=200x):
//
//	HOOKTAIL_BENCH_DB=/tmp/hooktail-bench-gen1-10M.db \
//	  go test -run '^$' -bench EndpointLatency -benchtime=200x ./aggregator/httpapi/
func BenchmarkEndpointLatency(b *testing.B) {
	path := os.Getenv("HOOKTAIL_BENCH_DB")
	if path == "" {
		b.Skip("HOOKTAIL_BENCH_DB is not set")
	}
	if _, err := os.Stat(path); err != nil {
		b.Fatalf("HOOKTAIL_BENCH_DB: %v", err)
	}
	quiet := slog.New(slog.DiscardHandler)
	store, err := sqlite.Open(context.Background(), path, sqlite.Options{
		Logger: quiet, RetentionInterval: -1, DeliveryTimeout: 15 * time.Minute,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := store.Close(); err != nil {
			b.Errorf("close store: %v", err)
		}
	})
	srv, err := httpapi.New(httpapi.Options{Store: store, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ids := discoverIDs(b, srv)
	b.Logf("ids: hook=%s failed hook=%s step=%s repository=%s pr=%d search=%q",
		ids.hook, ids.failedHook, ids.failedStep, ids.repository, ids.pr, ids.word)

	endpoints := []struct{ name, target string }{
		{"workflow-steps", "/logs/api/workflow-steps/" + url.PathEscape(ids.failedHook)},
		{"step-logs", "/logs/api/step-logs/" + url.PathEscape(ids.failedHook) + "/" + url.PathEscape(ids.failedStep)},
		{"entries-hook", "/logs/api/entries?hook_id=" + url.QueryEscape(ids.hook)},
		{"entries-newest", "/logs/api/entries?limit=100"},
		{"entries-error", "/logs/api/entries?level=ERROR"},
		{"pr-flow", fmt.Sprintf("/logs/api/pr-flow/pr-%d", ids.pr)},
		{"logs-search-error", "/logs?search=" + url.QueryEscape(ids.word) + "&level=ERROR&limit=50"},
		{"logs-newest", "/logs?limit=50"},
		{"api-logs", "/api/logs?limit=50"},
		{"api-logs-repo-error", "/api/logs?repository=" + url.QueryEscape(ids.repository) + "&status=error"},
		{"api-log", "/api/logs/" + url.PathEscape(ids.hook)},
		{"api-endpoints", "/api/endpoints"},
	}
	for _, ep := range endpoints {
		b.Run(ep.name, func(b *testing.B) {
			for range latencyWarmup {
				mustGet(b, srv, ep.target)
			}
			durs := make([]time.Duration, 0, b.N)
			for b.Loop() {
				began := time.Now()
				mustGet(b, srv, ep.target)
				durs = append(durs, time.Since(began))
			}
			slices.Sort(durs)
			b.ReportMetric(float64(percentile(durs, 50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(durs, 99).Microseconds())/1000, "p99-ms")
		})
	}
}

// percentile returns the nearest-rank p-th percentile of sorted durs.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n), 1-based
	return sorted[max(rank, 1)-1]
}

// mustGet serves GET target from a trusted loopback peer and fails unless
// the answer is 200; it returns the body.
func mustGet(b *testing.B, srv http.Handler, target string) []byte {
	b.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = "127.0.0.1:50000"
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatalf("GET %s: status %d: %.300s", target, w.Code, w.Body.String())
	}
	return w.Body.Bytes()
}

// benchIDs are real identifiers of the database under measurement.
type benchIDs struct {
	hook       string // the newest delivery
	failedHook string // a failed delivery
	failedStep string // its failed step
	repository string // the failed delivery's repository
	pr         int64  // the failed delivery's PR
	word       string // a word of its ERROR entries, the rarest of a few
}

// discoverIDs picks benchIDs through the API itself.
func discoverIDs(b *testing.B, srv http.Handler) benchIDs {
	b.Helper()
	var ids benchIDs
	var list struct {
		Data []struct {
			ID         string  `json:"id"`
			Repository *string `json:"repository"`
			PRNumber   *int64  `json:"pr_number"`
			Steps      []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"steps"`
		} `json:"data"`
	}
	decodeInto(b, mustGet(b, srv, "/api/logs?limit=100"), &list)
	if len(list.Data) == 0 {
		b.Fatal("GET /api/logs?limit=100: no deliveries")
	}
	ids.hook = list.Data[0].ID
	decodeInto(b, mustGet(b, srv, "/api/logs?status=error&limit=100"), &list)
	var entries struct {
		Entries []struct {
			Message string  `json:"message"`
			Step    *string `json:"step"`
		} `json:"entries"`
	}
	for _, d := range list.Data {
		if d.Repository == nil || d.PRNumber == nil || len(d.Steps) == 0 {
			continue
		}
		ids.failedHook, ids.repository, ids.pr = d.ID, *d.Repository, *d.PRNumber
		break
	}
	if ids.failedHook == "" {
		b.Fatal("no failed delivery with steps, a repository and a PR among the newest 100 errors")
	}
	decodeInto(b, mustGet(b, srv, "/logs/api/entries?level=ERROR&hook_id="+url.QueryEscape(ids.failedHook)), &entries)
	if len(entries.Entries) == 0 {
		b.Fatalf("failed delivery %s has no ERROR entry", ids.failedHook)
	}
	// The step to read: a failed one, else the step of an ERROR entry,
	// else the last one.
	var steps struct {
		Steps []struct {
			StepName   string `json:"step_name"`
			TaskStatus string `json:"task_status"`
		} `json:"steps"`
	}
	decodeInto(b, mustGet(b, srv, "/logs/api/workflow-steps/"+url.PathEscape(ids.failedHook)), &steps)
	if len(steps.Steps) == 0 {
		b.Fatalf("workflow-steps of %s: no steps", ids.failedHook)
	}
	ids.failedStep = steps.Steps[len(steps.Steps)-1].StepName
	for _, e := range entries.Entries {
		if e.Step != nil && slices.ContainsFunc(steps.Steps, func(s struct {
			StepName   string `json:"step_name"`
			TaskStatus string `json:"task_status"`
		}) bool {
			return s.StepName == *e.Step
		}) {
			ids.failedStep = *e.Step
			break
		}
	}
	for _, s := range steps.Steps {
		if s.TaskStatus == "failed" {
			ids.failedStep = s.StepName
			break
		}
	}
	// Candidates: the words (runs of letters and digits, as search splits
	// them) of at least 3 characters of its ERROR messages; the one
	// matching the fewest ERROR entries wins.
	var words []string
	for _, e := range entries.Entries {
		for _, w := range strings.FieldsFunc(e.Message, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			if w = strings.ToLower(w); len(w) >= 3 && !slices.Contains(words, w) && len(words) < 40 {
				words = append(words, w)
			}
		}
	}
	if len(words) == 0 {
		b.Fatalf("failed delivery %s: no search word in its ERROR messages", ids.failedHook)
	}
	best := int64(-1)
	for _, w := range words {
		var page struct {
			Data struct {
				Pagination struct {
					Total int64 `json:"total"`
				} `json:"pagination"`
			} `json:"data"`
		}
		decodeInto(b, mustGet(b, srv, "/logs?limit=1&level=ERROR&search="+url.QueryEscape(w)), &page)
		if n := page.Data.Pagination.Total; n > 0 && (best < 0 || n < best) {
			ids.word, best = w, n
		}
	}
	if ids.word == "" {
		b.Fatalf("no candidate word %q matches an ERROR entry", words)
	}
	b.Logf("search word %q matches %d ERROR entries", ids.word, best)
	return ids
}

// decodeInto unmarshals a JSON body into v, failing the benchmark on error.
func decodeInto(b *testing.B, body []byte, v any) {
	b.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		b.Fatalf("decode %.200s: %v", body, err)
	}
}
