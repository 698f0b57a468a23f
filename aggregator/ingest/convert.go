package ingest

import (
	"encoding/json"
	"time"

	"github.com/hooktail/hooktail/aggregator"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// fromProto converts one wire entry; it never fails: what the wire lacks
// stays empty.
func fromProto(dst *aggregator.Entry, e *hooktailv1.Entry, agentID string) {
	*dst = aggregator.Entry{
		Source:       e.GetSource(),
		Fingerprint:  e.GetFingerprint(),
		Offset:       e.GetOffset(),
		File:         e.GetFile(),
		AgentID:      agentID,
		Timestamp:    microsToTime(e.GetTimestampUs()),
		TimestampRaw: e.GetTimestampRaw(),
		Level:        e.GetLevel(),
		LoggerName:   e.GetLoggerName(),
		Message:      e.GetMessage(),
		HookID:       e.GetHookId(),
		EventType:    e.GetEventType(),
		Repository:   e.GetRepository(),
		PRNumber:     e.GetPrNumber(),
		GithubUser:   e.GetGithubUser(),
		TaskID:       e.GetTaskId(),
		TaskType:     e.GetTaskType(),
		TaskStatus:   e.GetTaskStatus(),
		TokenSpend:   optInt(e.TokenSpend),
		Step:         e.GetStep(),
		ExcInfo:      e.GetExcInfo(),
		ParseError:   e.GetParseError(),
		Truncated:    e.GetTruncated(),
		Summary:      e.GetKind() == hooktailv1.Kind_KIND_DELIVERY_SUMMARY,
		Completion:   completionFromProto(e.GetCompletion()),
		DedupeKey:    e.GetDedupeKey(),
	}
	dst.Details = details(e.GetDetailsJson())
}

// details keeps a details value: valid JSON as it is, anything else as a
// JSON string of the raw text (never dropped); "" stays empty.
func details(d string) json.RawMessage {
	if d == "" {
		return nil
	}
	if json.Valid([]byte(d)) {
		return json.RawMessage(d)
	}
	b, _ := json.Marshal(d) // a string always marshals
	return b
}

func completionFromProto(c *hooktailv1.Completion) *aggregator.Completion {
	if c == nil {
		return nil
	}
	out := &aggregator.Completion{
		Status:             c.GetStatus(),
		DurationMS:         optInt(c.DurationMs),
		PRNumber:           c.GetPrNumber(),
		TokenSpend:         optInt(c.TokenSpend),
		Action:             c.GetAction(),
		Sender:             c.GetSender(),
		RepositoryFullName: c.GetRepositoryFullName(),
		PRTitle:            c.GetPrTitle(),
		APIUser:            c.GetApiUser(),
		StartedAt:          microsToTime(c.GetStartedAtUs()),
		CompletedAt:        microsToTime(c.GetCompletedAtUs()),
		Error:              errorFromProto(c.GetError()),
	}
	if len(c.GetSteps()) > 0 {
		out.Steps = make([]aggregator.Step, len(c.GetSteps()))
		for i, s := range c.GetSteps() {
			out.Steps[i] = aggregator.Step{
				Name:       s.GetName(),
				Status:     s.GetStatus(),
				StartedAt:  microsToTime(s.GetStartedAtUs()),
				DurationMS: optInt(s.DurationMs),
				Error:      errorFromProto(s.GetError()),
				Order:      i,
			}
			out.Steps[i].Details = details(s.GetDetailsJson())
		}
	}
	return out
}

func errorFromProto(e *hooktailv1.ErrorInfo) *aggregator.ErrorInfo {
	if e == nil {
		return nil
	}
	return &aggregator.ErrorInfo{Type: e.GetType(), Message: e.GetMessage(), Traceback: e.GetTraceback()}
}

func optInt(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// microsToTime decodes a wire time: 0 is unknown, and so is a time outside
// years 1..9999 UTC (aggregator.KnownTime), which no JSON encoding or API
// answer could write. The entry keeps its timestamp as written.
func microsToTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return aggregator.KnownTime(time.UnixMicro(us))
}
