package ship

import (
	"strings"
	"unicode/utf8"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/plugins"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// toProto converts a batch at the edge. Entries are allocated in one slice.
func toProto(entries []agent.Entry) []*hooktailv1.Entry {
	backing := make([]hooktailv1.Entry, len(entries))
	out := make([]*hooktailv1.Entry, len(entries))
	for i := range entries {
		e, p := &entries[i], &entries[i].Parsed
		w := &backing[i]
		w.Source = utf8Valid(e.Source)
		w.Fingerprint = e.File.Fingerprint
		w.Offset = e.Offset
		w.File = utf8Valid(e.Path)
		w.TimestampUs = p.TimestampUS
		w.TimestampRaw = utf8Valid(p.TimestampRaw)
		w.Level = utf8Valid(p.Level)
		w.LoggerName = utf8Valid(p.LoggerName)
		w.Message = utf8Valid(p.Message)
		w.HookId = utf8Valid(p.HookID)
		w.EventType = utf8Valid(p.EventType)
		w.Repository = utf8Valid(p.Repository)
		if p.PRNumber != 0 {
			w.PrNumber = &p.PRNumber
		}
		w.GithubUser = utf8Valid(p.GithubUser)
		w.TaskId = utf8Valid(p.TaskID)
		w.TaskType = utf8Valid(p.TaskType)
		w.TaskStatus = utf8Valid(p.TaskStatus)
		w.TokenSpend = p.TokenSpend
		w.Step = utf8Valid(p.Step)
		w.ExcInfo = utf8Valid(p.ExcInfo)
		w.ParseError = p.ParseError
		w.Truncated = p.Truncated
		w.DetailsJson = utf8Valid(string(p.Details))
		if p.Kind == plugins.KindDeliverySummary {
			w.Kind = hooktailv1.Kind_KIND_DELIVERY_SUMMARY
		}
		w.Completion = completionToProto(p.Completion)
		w.DedupeKey = p.DedupeKey
		out[i] = w
	}
	return out
}

func completionToProto(c *plugins.Completion) *hooktailv1.Completion {
	if c == nil {
		return nil
	}
	out := &hooktailv1.Completion{
		Status:             utf8Valid(c.Status),
		DurationMs:         c.DurationMS,
		TokenSpend:         c.TokenSpend,
		Action:             utf8Valid(c.Action),
		Sender:             utf8Valid(c.Sender),
		RepositoryFullName: utf8Valid(c.RepositoryFullName),
		PrTitle:            utf8Valid(c.PRTitle),
		ApiUser:            utf8Valid(c.APIUser),
		StartedAtUs:        c.StartedAtUS,
		CompletedAtUs:      c.CompletedAtUS,
		Error:              errorToProto(c.Error),
	}
	if c.PRNumber != 0 {
		pr := c.PRNumber
		out.PrNumber = &pr
	}
	for _, s := range c.Steps {
		out.Steps = append(out.Steps, &hooktailv1.Step{
			Name:        utf8Valid(s.Name),
			Status:      utf8Valid(s.Status),
			StartedAtUs: s.StartedAtUS,
			DurationMs:  s.DurationMS,
			Error:       errorToProto(s.Error),
			DetailsJson: utf8Valid(string(s.Details)),
		})
	}
	return out
}

func errorToProto(e *plugins.ErrorInfo) *hooktailv1.ErrorInfo {
	if e == nil {
		return nil
	}
	return &hooktailv1.ErrorInfo{Type: utf8Valid(e.Type), Message: utf8Valid(e.Message), Traceback: utf8Valid(e.Traceback)}
}

// utf8Valid makes s valid UTF-8, which proto3 strings must be: parsers
// already do so, this guards every string field, since one invalid byte
// would make the batch unmarshalable and its push fail forever.
func utf8Valid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
