package ship

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/plugins"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

func ptr[T any](v T) *T { return &v }

func TestToProto(t *testing.T) {
	t.Parallel()
	file := agent.FileID{Dev: 1, Ino: 2, Fingerprint: 0xfeedface}
	testCases := map[string]struct {
		in   agent.Entry
		want *hooktailv1.Entry
	}{
		"empty": {
			in:   agent.Entry{},
			want: &hooktailv1.Entry{},
		},
		"every field": {
			in: agent.Entry{
				Source: "webhook-server", File: file, Path: "/logs/webhook-server.log", Offset: 100, End: 180,
				Parsed: plugins.Entry{
					TimestampUS: 1785492902101877, TimestampRaw: "2026-07-31 10:15:02,101",
					Level: "ERROR", LoggerName: "GithubWebhook", Message: "boom\ntraceback",
					HookID: "hook-1", EventType: "pull_request", Repository: "repo", PRNumber: 42,
					GithubUser: "bot", TaskID: "tid", TaskType: "ttype", TaskStatus: "started",
					TokenSpend: ptr[int64](77), Step: "clone", ExcInfo: "exc",
					ParseError: true, Truncated: true, Details: json.RawMessage(`{"x":1}`),
					DedupeKey: 0xabcdef,
				},
			},
			want: &hooktailv1.Entry{
				Source: "webhook-server", Fingerprint: 0xfeedface, Offset: 100, File: "/logs/webhook-server.log",
				TimestampUs: 1785492902101877, TimestampRaw: "2026-07-31 10:15:02,101",
				Level: "ERROR", LoggerName: "GithubWebhook", Message: "boom\ntraceback",
				HookId: "hook-1", EventType: "pull_request", Repository: "repo", PrNumber: ptr[int64](42),
				GithubUser: "bot", TaskId: "tid", TaskType: "ttype", TaskStatus: "started",
				TokenSpend: ptr[int64](77), Step: "clone", ExcInfo: "exc",
				ParseError: true, Truncated: true, DetailsJson: `{"x":1}`,
				DedupeKey: 0xabcdef,
			},
		},
		"PR number 0 is unset, token spend 0 is kept": {
			in:   agent.Entry{Parsed: plugins.Entry{PRNumber: 0, TokenSpend: ptr[int64](0)}},
			want: &hooktailv1.Entry{TokenSpend: ptr[int64](0)},
		},
		"nil completion": {
			in:   agent.Entry{Parsed: plugins.Entry{Level: "INFO", Completion: nil}},
			want: &hooktailv1.Entry{Level: "INFO"},
		},
		"delivery summary with completion": {
			in: agent.Entry{Parsed: plugins.Entry{
				Kind: plugins.KindDeliverySummary,
				Completion: &plugins.Completion{
					Status: "failed", DurationMS: ptr[int64](900), PRNumber: 5, TokenSpend: ptr[int64](3),
					Action: "opened", Sender: "octocat", RepositoryFullName: "o/r", PRTitle: "t", APIUser: "bot",
					StartedAtUS: 10, CompletedAtUS: 20,
					Error: &plugins.ErrorInfo{Type: "E", Message: "m", Traceback: "tb"},
					Steps: []plugins.Step{
						{Name: "a", Status: "completed", StartedAtUS: 11, DurationMS: ptr[int64](1), Details: json.RawMessage(`{"k":2}`)},
						{Name: "b", Status: "failed", Error: &plugins.ErrorInfo{Message: "x"}},
					},
				},
			}},
			want: &hooktailv1.Entry{
				Kind: hooktailv1.Kind_KIND_DELIVERY_SUMMARY,
				Completion: &hooktailv1.Completion{
					Status: "failed", DurationMs: ptr[int64](900), PrNumber: ptr[int64](5), TokenSpend: ptr[int64](3),
					Action: "opened", Sender: "octocat", RepositoryFullName: "o/r", PrTitle: "t", ApiUser: "bot",
					StartedAtUs: 10, CompletedAtUs: 20,
					Error: &hooktailv1.ErrorInfo{Type: "E", Message: "m", Traceback: "tb"},
					Steps: []*hooktailv1.Step{
						{Name: "a", Status: "completed", StartedAtUs: 11, DurationMs: ptr[int64](1), DetailsJson: `{"k":2}`},
						{Name: "b", Status: "failed", Error: &hooktailv1.ErrorInfo{Message: "x"}},
					},
				},
			},
		},
		"completion with PR 0 and no steps": {
			in:   agent.Entry{Parsed: plugins.Entry{Completion: &plugins.Completion{Status: "success"}}},
			want: &hooktailv1.Entry{Completion: &hooktailv1.Completion{Status: "success"}},
		},
		"invalid UTF-8 in message and path": {
			in: agent.Entry{
				Source: "s\xff", Path: "/logs/bad\xc3(.log",
				Parsed: plugins.Entry{Message: "a\xffb", Level: "\xfe", HookID: "h\x80", Details: json.RawMessage("{\"a\":\"\xff\"}")},
			},
			want: &hooktailv1.Entry{
				Source: "s\uFFFD", File: "/logs/bad\uFFFD(.log",
				Message: "a\uFFFDb", Level: "\uFFFD", HookId: "h\uFFFD", DetailsJson: "{\"a\":\"\uFFFD\"}",
			},
		},
	}
	for name, tc := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := toProto([]agent.Entry{tc.in})
			if len(got) != 1 {
				t.Fatalf("toProto() returned %d entries, want 1", len(got))
			}
			if diff := cmp.Diff(tc.want, got[0], protocmp.Transform()); diff != "" {
				t.Errorf("toProto() mismatch (-want +got):\n%s", diff)
			}
			if _, err := proto.Marshal(got[0]); err != nil {
				t.Errorf("proto.Marshal(toProto()) = %v", err)
			}
		})
	}
}

func TestToProtoKeepsOrder(t *testing.T) {
	t.Parallel()
	in := make([]agent.Entry, 50)
	for i := range in {
		in[i] = agent.Entry{Offset: int64(i * 10), Parsed: plugins.Entry{Message: string(rune('a' + i%26))}}
	}
	out := toProto(in)
	if got, want := len(out), len(in); got != want {
		t.Fatalf("len(toProto()) = %d, want %d", got, want)
	}
	for i, e := range out {
		if e.GetOffset() != in[i].Offset || e.GetMessage() != in[i].Parsed.Message {
			t.Errorf("entry %d = (%d, %q), want (%d, %q)", i, e.GetOffset(), e.GetMessage(), in[i].Offset, in[i].Parsed.Message)
		}
	}
	if got := toProto(nil); len(got) != 0 {
		t.Errorf("toProto(nil) = %v, want empty", got)
	}
}

// TestToProtoInvalidUTF8Everywhere puts invalid UTF-8 in every string an
// entry carries, completion and steps included: the batch must still
// marshal (proto3 strings must be valid UTF-8), or the push would fail
// forever and stall the source.
func TestToProtoInvalidUTF8Everywhere(t *testing.T) {
	t.Parallel()
	const bad = "x\xffy\xc3"
	errInfo := func() *plugins.ErrorInfo { return &plugins.ErrorInfo{Type: bad, Message: bad, Traceback: bad} }
	in := agent.Entry{
		Source: bad, Path: bad,
		Parsed: plugins.Entry{
			TimestampRaw: bad, Level: bad, LoggerName: bad, Message: bad, HookID: bad, EventType: bad,
			Repository: bad, GithubUser: bad, TaskID: bad, TaskType: bad, TaskStatus: bad, Step: bad,
			ExcInfo: bad, Details: json.RawMessage(bad),
			Completion: &plugins.Completion{
				Status: bad, Action: bad, Sender: bad, RepositoryFullName: bad, PRTitle: bad, APIUser: bad,
				Error: errInfo(),
				Steps: []plugins.Step{{Name: bad, Status: bad, Error: errInfo(), Details: json.RawMessage(bad)}},
			},
		},
	}
	out := toProto([]agent.Entry{in})
	if _, err := proto.Marshal(&hooktailv1.PushRequest{Entries: out}); err != nil {
		t.Fatalf("proto.Marshal() = %v", err)
	}
	n := 0
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := range v.List().Len() {
					walk(v.List().Get(i).Message())
				}
			case fd.Message() != nil:
				walk(v.Message())
			case fd.Kind() == protoreflect.StringKind:
				n++
				if s := v.String(); !utf8.ValidString(s) || s != "x\uFFFDy\uFFFD" {
					t.Errorf("%s = %q, want %q", fd.FullName(), s, "x\uFFFDy\uFFFD")
				}
			}
			return true
		})
	}
	walk(out[0].ProtoReflect())
	if want := 16 + 6 + 3 + 3 + 3; n != want {
		t.Errorf("checked %d string fields, want %d", n, want)
	}
}
