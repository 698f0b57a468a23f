package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hooktail/hooktail/aggregator"
)

// Entry flag bits (entries.flags).
const (
	flagParseError = 1 << iota
	flagTruncated
)

// micros encodes a time as Unix microseconds; 0 means unknown.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros decodes micros.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullPtr(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func nullDetails(d json.RawMessage) any {
	if len(d) == 0 {
		return nil
	}
	return string(validJSON(d))
}

// validJSON returns d, or d as a JSON string when it is not valid JSON, so
// that stored details always decode.
func validJSON(d json.RawMessage) json.RawMessage {
	if json.Valid(d) {
		return d
	}
	b, _ := json.Marshal(string(d)) // a string always marshals
	return b
}

// sanitizeCompletion returns a copy of c whose step details are valid JSON.
func sanitizeCompletion(c *aggregator.Completion) *aggregator.Completion {
	if c == nil {
		return nil
	}
	cc := *c
	if len(c.Steps) > 0 {
		cc.Steps = make([]aggregator.Step, len(c.Steps))
		for i, st := range c.Steps {
			if len(st.Details) > 0 {
				st.Details = validJSON(st.Details)
			}
			cc.Steps[i] = st
		}
	}
	return &cc
}

func encodeCompletion(c *aggregator.Completion) (any, error) {
	if c == nil {
		return nil, nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode completion: %w", err)
	}
	return string(b), nil
}

// summaryRecord is what the summaries table keeps of a webhook_summary.
type summaryRecord struct {
	Timestamp  time.Time              `json:"ts,omitzero"`
	EventType  string                 `json:"event_type,omitempty"`
	Repository string                 `json:"repository,omitempty"`
	PRNumber   int64                  `json:"pr_number,omitempty"`
	GithubUser string                 `json:"github_user,omitempty"`
	TokenSpend *int64                 `json:"token_spend,omitempty"`
	Completion *aggregator.Completion `json:"completion,omitempty"`
}

// entryColumns are the columns scanEntry reads, from entries e joined with
// files f and sources s.
const entryColumns = `e.id, s.name, f.fingerprint, e.byte_offset, f.path, f.agent_id, e.ts, e.ts_raw,
	e.level, e.logger, e.message, e.hook_id, e.event_type, e.repository, e.pr_number, e.github_user,
	e.task_id, e.task_type, e.task_status, e.token_spend, e.step, e.exc_info, e.attempt, e.flags,
	e.details, e.completion, e.dedupe_key`

// entryFrom joins an entry's file and source. CROSS JOIN keeps entries the
// outer loop: the planner otherwise may loop over the (few) sources and
// read each one's entries in full through entries_source_ts, which at 10M
// entries turns a 10 ms page into seconds.
const entryFrom = ` FROM entries e CROSS JOIN files f ON f.id = e.file_id CROSS JOIN sources s ON s.id = e.source_id`

// scanEntry reads one row of entryColumns.
func scanEntry(rows interface{ Scan(...any) error }) (aggregator.Entry, error) {
	var (
		e                                                   aggregator.Entry
		fp, ts, flags                                       int64
		tsRaw, level, logger, hookID, eventType, repository sql.NullString
		githubUser, taskID, taskType, taskStatus, step      sql.NullString
		excInfo, details, completion                        sql.NullString
		pr, tokenSpend, dedupe                              sql.NullInt64
	)
	err := rows.Scan(&e.ID, &e.Source, &fp, &e.Offset, &e.File, &e.AgentID, &ts, &tsRaw,
		&level, &logger, &e.Message, &hookID, &eventType, &repository, &pr, &githubUser,
		&taskID, &taskType, &taskStatus, &tokenSpend, &step, &excInfo, &e.Attempt, &flags,
		&details, &completion, &dedupe)
	if err != nil {
		return e, fmt.Errorf("scan entry: %w", err)
	}
	e.Fingerprint = uint64(fp)
	e.Timestamp = fromMicros(ts)
	e.TimestampRaw = tsRaw.String
	e.Level = level.String
	e.LoggerName = logger.String
	e.HookID = hookID.String
	e.EventType = eventType.String
	e.Repository = repository.String
	e.PRNumber = pr.Int64
	e.GithubUser = githubUser.String
	e.TaskID = taskID.String
	e.TaskType = taskType.String
	e.TaskStatus = taskStatus.String
	if tokenSpend.Valid {
		v := tokenSpend.Int64
		e.TokenSpend = &v
	}
	e.Step = step.String
	e.ExcInfo = excInfo.String
	e.ParseError = flags&flagParseError != 0
	e.Truncated = flags&flagTruncated != 0
	if details.Valid {
		e.Details = json.RawMessage(details.String)
	}
	if completion.Valid {
		var c aggregator.Completion
		if err := json.Unmarshal([]byte(completion.String), &c); err != nil {
			return e, fmt.Errorf("decode completion of entry %d: %w", e.ID, err)
		}
		normalizeSteps(c.Steps)
		e.Completion = &c
	}
	e.DedupeKey = uint64(dedupe.Int64)
	return e, nil
}

// fillEmpty copies into dst every field of src that dst lacks (SPEC §4: the
// second copy of a record only fills empty fields) and reports whether
// anything changed.
func fillEmpty(dst *aggregator.Entry, src *aggregator.Entry) bool {
	changed := false
	str := func(d *string, v string) {
		if *d == "" && v != "" {
			*d, changed = v, true
		}
	}
	str(&dst.HookID, src.HookID)
	str(&dst.EventType, src.EventType)
	str(&dst.Repository, src.Repository)
	str(&dst.GithubUser, src.GithubUser)
	str(&dst.TaskID, src.TaskID)
	str(&dst.TaskType, src.TaskType)
	str(&dst.TaskStatus, src.TaskStatus)
	str(&dst.Step, src.Step)
	str(&dst.ExcInfo, src.ExcInfo)
	str(&dst.LoggerName, src.LoggerName)
	if dst.PRNumber == 0 && src.PRNumber != 0 {
		dst.PRNumber, changed = src.PRNumber, true
	}
	if dst.TokenSpend == nil && src.TokenSpend != nil {
		v := *src.TokenSpend
		dst.TokenSpend, changed = &v, true
	}
	if len(dst.Details) == 0 && len(src.Details) > 0 {
		dst.Details, changed = src.Details, true
	}
	if dst.Completion == nil && src.Completion != nil {
		dst.Completion, changed = src.Completion, true
	}
	return changed
}

// normalizeSteps undoes what a JSON round trip does to absent step details
// (nil becomes "null").
func normalizeSteps(steps []aggregator.Step) {
	for i := range steps {
		if string(steps[i].Details) == "null" {
			steps[i].Details = nil
		}
	}
}

// decodeFold decodes a stored AttemptFold.
func decodeFold(raw string) (*aggregator.AttemptFold, error) {
	var f aggregator.AttemptFold
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return nil, err
	}
	for _, sf := range f.Steps {
		for _, p := range []*aggregator.StepFact{sf.Text, sf.JSON} {
			if p != nil && string(p.Step.Details) == "null" {
				p.Step.Details = nil
			}
		}
	}
	return &f, nil
}
