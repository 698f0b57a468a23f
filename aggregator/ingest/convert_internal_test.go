package ingest

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/hooktail/hooktail/aggregator"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

func ptr[T any](v T) *T { return &v }

// us is 2026-07-31T10:15:02.101877Z in Unix microseconds.
var us = time.Date(2026, 7, 31, 10, 15, 2, 101877000, time.UTC).UnixMicro()

func TestFromProto(t *testing.T) {
	t.Parallel()
	at := func(d time.Duration) time.Time { return time.UnixMicro(us).Add(d).UTC() }
	testCases := map[string]struct {
		in   *hooktailv1.Entry
		want aggregator.Entry
	}{
		"empty": {
			in:   &hooktailv1.Entry{},
			want: aggregator.Entry{AgentID: "agent-1"},
		},
		"every scalar field": {
			in: &hooktailv1.Entry{
				Source:       "webhook-server",
				Fingerprint:  0xdeadbeefcafef00d,
				Offset:       4096,
				File:         "/data/logs/webhook-server.log",
				TimestampUs:  us,
				TimestampRaw: "2026-07-31 10:15:02,101",
				Level:        "ERROR",
				LoggerName:   "GithubWebhook",
				Message:      "boom\nTraceback (most recent call last):\n  x",
				HookId:       "b3a1c2d4-0000-11ef-8000-000000000001",
				EventType:    "pull_request",
				Repository:   "github-webhook-server",
				PrNumber:     ptr[int64](42),
				GithubUser:   "myakove-bot",
				TaskId:       "check_merge",
				TaskType:     "ci_check",
				TaskStatus:   "failed",
				TokenSpend:   ptr[int64](1234),
				Step:         "ci_check",
				ExcInfo:      "Traceback ...",
				ParseError:   true,
				Truncated:    true,
				DetailsJson:  `{"k":"v","n":1}`,
				DedupeKey:    0x0123456789abcdef,
			},
			want: aggregator.Entry{
				Source:       "webhook-server",
				Fingerprint:  0xdeadbeefcafef00d,
				Offset:       4096,
				File:         "/data/logs/webhook-server.log",
				AgentID:      "agent-1",
				Timestamp:    at(0),
				TimestampRaw: "2026-07-31 10:15:02,101",
				Level:        "ERROR",
				LoggerName:   "GithubWebhook",
				Message:      "boom\nTraceback (most recent call last):\n  x",
				HookID:       "b3a1c2d4-0000-11ef-8000-000000000001",
				EventType:    "pull_request",
				Repository:   "github-webhook-server",
				PRNumber:     42,
				GithubUser:   "myakove-bot",
				TaskID:       "check_merge",
				TaskType:     "ci_check",
				TaskStatus:   "failed",
				TokenSpend:   ptr[int64](1234),
				Step:         "ci_check",
				ExcInfo:      "Traceback ...",
				ParseError:   true,
				Truncated:    true,
				Details:      json.RawMessage(`{"k":"v","n":1}`),
				DedupeKey:    0x0123456789abcdef,
			},
		},
		"optional fields set to zero": {
			// token_spend = 0 is a known spend of nothing, not unknown.
			in:   &hooktailv1.Entry{PrNumber: ptr[int64](0), TokenSpend: ptr[int64](0)},
			want: aggregator.Entry{AgentID: "agent-1", TokenSpend: ptr[int64](0)},
		},
		"optional fields unset": {
			in:   &hooktailv1.Entry{Level: "INFO"},
			want: aggregator.Entry{AgentID: "agent-1", Level: "INFO"},
		},
		"invalid details are kept as a JSON string": {
			in:   &hooktailv1.Entry{Message: "m", DetailsJson: `{"k":`},
			want: aggregator.Entry{AgentID: "agent-1", Message: "m", Details: json.RawMessage(`"{\"k\":"`)},
		},
		"invalid UTF-8 details are kept as a JSON string": {
			in:   &hooktailv1.Entry{DetailsJson: "caf\xe9"},
			want: aggregator.Entry{AgentID: "agent-1", Details: json.RawMessage(`"caf\ufffd"`)},
		},
		"timestamp before year 1 is unknown": {
			// 0000-01-01T00:00:00.5+01:00 is year -1 in UTC.
			in: &hooktailv1.Entry{
				TimestampUs:  time.Date(0, 1, 1, 0, 0, 0, 5e8, time.FixedZone("", 3600)).UnixMicro(),
				TimestampRaw: "0000-01-01T00:00:00.5+01:00",
			},
			want: aggregator.Entry{AgentID: "agent-1", TimestampRaw: "0000-01-01T00:00:00.5+01:00"},
		},
		"timestamp after year 9999 is unknown": {
			in:   &hooktailv1.Entry{TimestampUs: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro(), TimestampRaw: "10000-01-01"},
			want: aggregator.Entry{AgentID: "agent-1", TimestampRaw: "10000-01-01"},
		},
		"extreme timestamps are unknown": {
			in:   &hooktailv1.Entry{TimestampUs: math.MinInt64},
			want: aggregator.Entry{AgentID: "agent-1"},
		},
		"first and last representable instants are kept": {
			in: &hooktailv1.Entry{
				TimestampUs: time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC).UnixMicro(),
				Completion: &hooktailv1.Completion{
					CompletedAtUs: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro(),
				},
			},
			want: aggregator.Entry{
				AgentID: "agent-1", Timestamp: time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC),
				Completion: &aggregator.Completion{CompletedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
			},
		},
		"completion and step times out of range are unknown": {
			in: &hooktailv1.Entry{
				Kind: hooktailv1.Kind_KIND_DELIVERY_SUMMARY,
				Completion: &hooktailv1.Completion{
					StartedAtUs:   time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro(),
					CompletedAtUs: math.MaxInt64,
					Steps:         []*hooktailv1.Step{{Name: "s", StartedAtUs: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()}},
				},
			},
			want: aggregator.Entry{
				AgentID: "agent-1", Summary: true,
				Completion: &aggregator.Completion{Steps: []aggregator.Step{{Name: "s"}}},
			},
		},
		"delivery summary with completion": {
			in: &hooktailv1.Entry{
				HookId: "hook-1",
				Kind:   hooktailv1.Kind_KIND_DELIVERY_SUMMARY,
				Completion: &hooktailv1.Completion{
					Status:             "partial",
					DurationMs:         ptr[int64](2500),
					PrNumber:           ptr[int64](7),
					TokenSpend:         ptr[int64](99),
					Action:             "synchronize",
					Sender:             "octocat",
					RepositoryFullName: "myk-org/github-webhook-server",
					PrTitle:            "Fix things",
					ApiUser:            "myakove-bot",
					StartedAtUs:        us,
					CompletedAtUs:      us + 2_500_000,
					Error:              &hooktailv1.ErrorInfo{Type: "RuntimeError", Message: "bad", Traceback: "tb"},
					Steps: []*hooktailv1.Step{
						{Name: "clone", Status: "completed", StartedAtUs: us, DurationMs: ptr[int64](10), DetailsJson: `{"a":1}`},
						{
							Name: "ci_check", Status: "failed", StartedAtUs: us + 10_000,
							Error:       &hooktailv1.ErrorInfo{Type: "CIError", Message: "red", Traceback: "tb2"},
							DetailsJson: `not json`,
						},
						{Name: "skipped_one", Status: "skipped"},
					},
				},
			},
			want: aggregator.Entry{
				AgentID: "agent-1",
				HookID:  "hook-1",
				Summary: true,
				Completion: &aggregator.Completion{
					Status:             "partial",
					DurationMS:         ptr[int64](2500),
					PRNumber:           7,
					TokenSpend:         ptr[int64](99),
					Action:             "synchronize",
					Sender:             "octocat",
					RepositoryFullName: "myk-org/github-webhook-server",
					PRTitle:            "Fix things",
					APIUser:            "myakove-bot",
					StartedAt:          at(0),
					CompletedAt:        at(2500 * time.Millisecond),
					Error:              &aggregator.ErrorInfo{Type: "RuntimeError", Message: "bad", Traceback: "tb"},
					Steps: []aggregator.Step{
						{Name: "clone", Status: "completed", StartedAt: at(0), DurationMS: ptr[int64](10), Details: json.RawMessage(`{"a":1}`), Order: 0},
						{
							Name: "ci_check", Status: "failed", StartedAt: at(10 * time.Millisecond),
							Error:   &aggregator.ErrorInfo{Type: "CIError", Message: "red", Traceback: "tb2"},
							Details: json.RawMessage(`"not json"`),
							Order:   1,
						},
						{Name: "skipped_one", Status: "skipped", Order: 2},
					},
				},
			},
		},
		"log entry with completion and no steps": {
			in: &hooktailv1.Entry{
				Level:      "SUCCESS",
				Completion: &hooktailv1.Completion{Status: "success", DurationMs: ptr[int64](5)},
			},
			want: aggregator.Entry{
				AgentID:    "agent-1",
				Level:      "SUCCESS",
				Completion: &aggregator.Completion{Status: "success", DurationMS: ptr[int64](5)},
			},
		},
		"negative timestamp before 1970": {
			in:   &hooktailv1.Entry{TimestampUs: -1},
			want: aggregator.Entry{AgentID: "agent-1", Timestamp: time.UnixMicro(-1).UTC()},
		},
	}
	for name, tc := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var got aggregator.Entry
			fromProto(&got, tc.in, "agent-1")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("fromProto() mismatch (-want +got):\n%s", diff)
			}
			if !got.Timestamp.IsZero() && got.Timestamp.Location() != time.UTC {
				t.Errorf("Timestamp location = %v, want UTC", got.Timestamp.Location())
			}
		})
	}
}

// TestFromProtoOverwrites checks that a reused destination keeps nothing of
// its previous entry.
func TestFromProtoOverwrites(t *testing.T) {
	t.Parallel()
	dst := aggregator.Entry{ID: 9, Message: "old", Details: json.RawMessage(`{}`), Attempt: 3, Completion: &aggregator.Completion{}}
	fromProto(&dst, &hooktailv1.Entry{Message: "new"}, "a")
	if diff := cmp.Diff(aggregator.Entry{AgentID: "a", Message: "new"}, dst); diff != "" {
		t.Errorf("fromProto() mismatch (-want +got):\n%s", diff)
	}
}

// TestFromProtoCopiesOptionals checks that the domain entry does not share
// the optional values' memory with the wire message.
func TestFromProtoCopiesOptionals(t *testing.T) {
	t.Parallel()
	in := &hooktailv1.Entry{
		TokenSpend: ptr[int64](1),
		Completion: &hooktailv1.Completion{
			DurationMs: ptr[int64](2), TokenSpend: ptr[int64](3),
			Steps: []*hooktailv1.Step{{DurationMs: ptr[int64](4)}},
		},
	}
	var got aggregator.Entry
	fromProto(&got, in, "")
	*in.TokenSpend, *in.Completion.DurationMs, *in.Completion.TokenSpend, *in.Completion.Steps[0].DurationMs = 10, 20, 30, 40
	if g := []int64{*got.TokenSpend, *got.Completion.DurationMS, *got.Completion.TokenSpend, *got.Completion.Steps[0].DurationMS}; !cmp.Equal(g, []int64{1, 2, 3, 4}) {
		t.Errorf("converted optionals = %v after changing the wire message, want [1 2 3 4]", g)
	}
}

func FuzzFromProto(f *testing.F) {
	seeds := []*hooktailv1.PushRequest{
		{},
		{AgentId: "a", BatchId: 1, Entries: []*hooktailv1.Entry{{Message: "m", DetailsJson: `{"x":1}`}}},
		{Entries: []*hooktailv1.Entry{{
			PrNumber: ptr[int64](1), TokenSpend: ptr[int64](2), Kind: hooktailv1.Kind_KIND_DELIVERY_SUMMARY,
			Completion: &hooktailv1.Completion{
				DurationMs: ptr[int64](3), Error: &hooktailv1.ErrorInfo{Message: "e"},
				Steps: []*hooktailv1.Step{{Name: "s", DetailsJson: "[", Error: &hooktailv1.ErrorInfo{}}, {}},
			},
		}}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x1a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var req hooktailv1.PushRequest
		if err := proto.Unmarshal(data, &req); err != nil {
			t.Skip()
		}
		entries := make([]aggregator.Entry, len(req.GetEntries()))
		for i, e := range req.GetEntries() {
			fromProto(&entries[i], e, req.GetAgentId())
			got := &entries[i]
			if got.Details != nil && !json.Valid(got.Details) {
				t.Fatalf("entry %d: invalid details %q", i, got.Details)
			}
			if (got.Details == nil) != (e.GetDetailsJson() == "") {
				t.Fatalf("entry %d: details %q from %q: dropped or invented", i, got.Details, e.GetDetailsJson())
			}
			// Every time encodes (the fold and summaries are JSON).
			if _, err := json.Marshal(got); err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
			if got.Summary != (e.GetKind() == hooktailv1.Kind_KIND_DELIVERY_SUMMARY) {
				t.Fatalf("entry %d: Summary = %v for kind %v", i, got.Summary, e.GetKind())
			}
			if c := got.Completion; c != nil {
				if len(c.Steps) != len(e.GetCompletion().GetSteps()) {
					t.Fatalf("entry %d: %d steps, want %d", i, len(c.Steps), len(e.GetCompletion().GetSteps()))
				}
				for j, s := range c.Steps {
					if s.Order != j {
						t.Fatalf("entry %d step %d: Order = %d", i, j, s.Order)
					}
					if s.Details != nil && !json.Valid(s.Details) {
						t.Fatalf("entry %d step %d: invalid details %q", i, j, s.Details)
					}
				}
			}
		}
	})
}
