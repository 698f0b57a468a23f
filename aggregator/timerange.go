package aggregator

import "time"

// Times the domain keeps lie in years 1..9999 UTC: what RFC 3339, and so
// every JSON encoding of a time.Time and every API answer, can write. A time
// outside that range is a clock or parser error and is treated as unknown
// (zero); the entry keeps its timestamp as written in TimestampRaw.

// KnownTime returns t in UTC, or the zero time (unknown) when t lies
// outside years 1..9999 UTC.
func KnownTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	u := t.UTC()
	if y := u.Year(); y < 1 || y > 9999 {
		return time.Time{}
	}
	return u
}

// NormalizeTimes applies KnownTime to every time of e: its timestamp and
// its completion's start, end and step start times. It copies the
// completion (and its steps) before changing it, so memory e shares with
// another entry is left alone. It reports whether anything changed.
func NormalizeTimes(e *Entry) bool {
	changed := false
	if t := KnownTime(e.Timestamp); t != e.Timestamp {
		e.Timestamp, changed = t, true
	}
	c := e.Completion
	if c == nil {
		return changed
	}
	stepsOK := true
	for i := range c.Steps {
		if KnownTime(c.Steps[i].StartedAt) != c.Steps[i].StartedAt {
			stepsOK = false
			break
		}
	}
	if stepsOK && KnownTime(c.StartedAt) == c.StartedAt && KnownTime(c.CompletedAt) == c.CompletedAt {
		return changed
	}
	cc := *c
	cc.StartedAt = KnownTime(c.StartedAt)
	cc.CompletedAt = KnownTime(c.CompletedAt)
	if len(c.Steps) > 0 {
		cc.Steps = make([]Step, len(c.Steps))
		for i, s := range c.Steps {
			s.StartedAt = KnownTime(s.StartedAt)
			cc.Steps[i] = s
		}
	}
	e.Completion = &cc
	return true
}
