// Package exporttest builds the log entries of webhook deliveries for the
// tests of the export jobs: ingested into a store, they derive deliveries
// of every state an export filters on.
package exporttest

import (
	"hash/crc32"
	"time"

	"github.com/hooktail/hooktail/aggregator"
)

// Delivery describes one delivery to write as entries.
type Delivery struct {
	HookID    string
	Source    string
	EventType string
	// Action goes into the completion (upstream logs it in the JSONL
	// webhook_summary only).
	Action     string
	Repository string
	// At is the time of the request line; the other entries follow it a
	// second apart.
	At time.Time
	// Background adds a line of the background task (state processing).
	Background bool
	// Error, when set, adds an ERROR entry with this message (a traceback
	// may follow the first line).
	Error string
	// Outcome is the completion's status: success, partial or failed;
	// empty leaves the delivery unfinished.
	Outcome string
}

// Builder writes entries with distinct identities, one file per source.
type Builder struct {
	offsets map[string]int64
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return &Builder{offsets: map[string]int64{}} }

// Entries returns the entries of the deliveries, in order.
func (b *Builder) Entries(ds ...Delivery) []aggregator.Entry {
	var out []aggregator.Entry
	for _, d := range ds {
		at := d.At
		add := func(level, msg, repo string) *aggregator.Entry {
			e := aggregator.Entry{
				Source:       d.Source,
				Fingerprint:  uint64(crc32.ChecksumIEEE([]byte(d.Source))) + 1,
				Offset:       b.offsets[d.Source],
				File:         "/data/logs/webhook-server.log",
				AgentID:      "agent-1",
				Timestamp:    at,
				TimestampRaw: at.Format("2006-01-02T15:04:05.000000-07:00"),
				Level:        level,
				LoggerName:   "GithubWebhook",
				Message:      msg,
				HookID:       d.HookID,
				EventType:    d.EventType,
				Repository:   repo,
			}
			b.offsets[d.Source] += int64(len(msg)) + 100
			at = at.Add(time.Second)
			out = append(out, e)
			return &out[len(out)-1]
		}
		add("INFO", "Processing webhook", "")
		if d.Background {
			add("INFO", "Processing webhook", d.Repository)
		}
		if d.Error != "" {
			add("ERROR", d.Error, d.Repository)
		}
		if d.Outcome != "" {
			dur := int64(1500)
			e := add("INFO", "["+map[bool]string{true: "FAILED", false: "SUCCESS"}[d.Outcome == "failed"]+
				"] Webhook completed", d.Repository)
			e.Completion = &aggregator.Completion{Status: d.Outcome, DurationMS: &dur, Action: d.Action}
		}
	}
	return out
}
