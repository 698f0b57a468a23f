package plugins

import (
	"encoding/json"

	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// The reference conversions of the Parse messages through the generated
// types: what wire.go's hand-written codec must agree with, field for
// field. The identity fields of a wire Entry (source, fingerprint, offset,
// file) belong to the agent and are left empty.

// parseRequestToProto builds the wire request; the records' data is
// shared, not copied.
func parseRequestToProto(req *ParseRequest) *hooktailv1.ParseRequest {
	backing := make([]hooktailv1.Record, len(req.Records))
	recs := make([]*hooktailv1.Record, len(req.Records))
	for i := range req.Records {
		r := &req.Records[i]
		w := &backing[i]
		w.Data, w.File, w.Offset = r.Data, r.File, r.Offset
		recs[i] = w
	}
	return &hooktailv1.ParseRequest{Records: recs, Timezone: timezoneToProto(req.Location)}
}

// recordsFromProto appends the wire records to dst; the data is shared.
func recordsFromProto(dst []Record, recs []*hooktailv1.Record) []Record {
	for _, r := range recs {
		dst = append(dst, Record{Data: r.GetData(), File: r.GetFile(), Offset: r.GetOffset()})
	}
	return dst
}

// entriesToProto converts a batch of entries, allocated in one slice.
func entriesToProto(entries []Entry) []*hooktailv1.Entry {
	backing := make([]hooktailv1.Entry, len(entries))
	out := make([]*hooktailv1.Entry, len(entries))
	for i := range entries {
		entryToProto(&backing[i], &entries[i])
		out[i] = &backing[i]
	}
	return out
}

func entryToProto(w *hooktailv1.Entry, e *Entry) {
	w.TimestampUs = e.TimestampUS
	w.TimestampRaw = e.TimestampRaw
	w.Level = e.Level
	w.LoggerName = e.LoggerName
	w.Message = e.Message
	w.HookId = e.HookID
	w.EventType = e.EventType
	w.Repository = e.Repository
	if e.PRNumber != 0 {
		pr := e.PRNumber
		w.PrNumber = &pr
	}
	w.GithubUser = e.GithubUser
	w.TaskId = e.TaskID
	w.TaskType = e.TaskType
	w.TaskStatus = e.TaskStatus
	w.TokenSpend = copyInt(e.TokenSpend)
	w.Step = e.Step
	w.ExcInfo = e.ExcInfo
	w.ParseError = e.ParseError
	w.Truncated = e.Truncated
	w.DetailsJson = string(e.Details)
	w.Kind = kindToProto(e.Kind)
	w.Completion = completionToProto(e.Completion)
	w.DedupeKey = e.DedupeKey
}

func entryFromProto(e *Entry, w *hooktailv1.Entry) {
	*e = Entry{
		TimestampUS:  w.GetTimestampUs(),
		TimestampRaw: w.GetTimestampRaw(),
		Level:        w.GetLevel(),
		LoggerName:   w.GetLoggerName(),
		Message:      w.GetMessage(),
		HookID:       w.GetHookId(),
		EventType:    w.GetEventType(),
		Repository:   w.GetRepository(),
		PRNumber:     w.GetPrNumber(),
		GithubUser:   w.GetGithubUser(),
		TaskID:       w.GetTaskId(),
		TaskType:     w.GetTaskType(),
		TaskStatus:   w.GetTaskStatus(),
		TokenSpend:   copyInt(w.TokenSpend),
		Step:         w.GetStep(),
		ExcInfo:      w.GetExcInfo(),
		ParseError:   w.GetParseError(),
		Truncated:    w.GetTruncated(),
		Details:      detailsFromProto(w.GetDetailsJson()),
		Kind:         kindFromProto(w.GetKind()),
		Completion:   completionFromProto(w.GetCompletion()),
		DedupeKey:    w.GetDedupeKey(),
	}
}

func kindToProto(k Kind) hooktailv1.Kind {
	return hooktailv1.Kind(k)
}

// kindFromProto keeps a kind it does not know as it is, so that
// CheckEntry refuses the entry instead of guessing what it was.
func kindFromProto(k hooktailv1.Kind) Kind {
	return Kind(k)
}

func detailsFromProto(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func completionToProto(c *Completion) *hooktailv1.Completion {
	if c == nil {
		return nil
	}
	out := &hooktailv1.Completion{
		Status:             c.Status,
		DurationMs:         copyInt(c.DurationMS),
		TokenSpend:         copyInt(c.TokenSpend),
		Action:             c.Action,
		Sender:             c.Sender,
		RepositoryFullName: c.RepositoryFullName,
		PrTitle:            c.PRTitle,
		ApiUser:            c.APIUser,
		StartedAtUs:        c.StartedAtUS,
		CompletedAtUs:      c.CompletedAtUS,
		Error:              errorToProto(c.Error),
	}
	if c.PRNumber != 0 {
		pr := c.PRNumber
		out.PrNumber = &pr
	}
	if len(c.Steps) > 0 {
		out.Steps = make([]*hooktailv1.Step, len(c.Steps))
		for i := range c.Steps {
			s := &c.Steps[i]
			out.Steps[i] = &hooktailv1.Step{
				Name:        s.Name,
				Status:      s.Status,
				StartedAtUs: s.StartedAtUS,
				DurationMs:  copyInt(s.DurationMS),
				Error:       errorToProto(s.Error),
				DetailsJson: string(s.Details),
			}
		}
	}
	return out
}

func completionFromProto(c *hooktailv1.Completion) *Completion {
	if c == nil {
		return nil
	}
	out := &Completion{
		Status:             c.GetStatus(),
		DurationMS:         copyInt(c.DurationMs),
		PRNumber:           c.GetPrNumber(),
		TokenSpend:         copyInt(c.TokenSpend),
		Action:             c.GetAction(),
		Sender:             c.GetSender(),
		RepositoryFullName: c.GetRepositoryFullName(),
		PRTitle:            c.GetPrTitle(),
		APIUser:            c.GetApiUser(),
		StartedAtUS:        c.GetStartedAtUs(),
		CompletedAtUS:      c.GetCompletedAtUs(),
		Error:              errorFromProto(c.GetError()),
	}
	if steps := c.GetSteps(); len(steps) > 0 {
		out.Steps = make([]Step, len(steps))
		for i, s := range steps {
			out.Steps[i] = Step{
				Name:        s.GetName(),
				Status:      s.GetStatus(),
				StartedAtUS: s.GetStartedAtUs(),
				DurationMS:  copyInt(s.DurationMs),
				Error:       errorFromProto(s.GetError()),
				Details:     detailsFromProto(s.GetDetailsJson()),
			}
		}
	}
	return out
}

func errorToProto(e *ErrorInfo) *hooktailv1.ErrorInfo {
	if e == nil {
		return nil
	}
	return &hooktailv1.ErrorInfo{Type: e.Type, Message: e.Message, Traceback: e.Traceback}
}

func errorFromProto(e *hooktailv1.ErrorInfo) *ErrorInfo {
	if e == nil {
		return nil
	}
	return &ErrorInfo{Type: e.GetType(), Message: e.GetMessage(), Traceback: e.GetTraceback()}
}

// copyInt copies an optional integer, so that the two sides never share
// one.
func copyInt(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
