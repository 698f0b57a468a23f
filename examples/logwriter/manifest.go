package logwriter

// ManifestRecord is the manifest line of one record written: the ground
// truth of what a correct parser extracts from the record's bytes.
type ManifestRecord struct {
	// Kind is "record".
	Kind string `json:"kind"`
	// File is the file name at write time (always Options.File), and
	// Generation the number of rotations before the write. After R
	// rotations in total the record lives in File when Generation == R,
	// in File.(R-Generation) otherwise, and is gone once R-Generation >
	// Backups.
	File       string `json:"file"`
	Generation int    `json:"generation"`
	// Offset is the byte offset of the record's first byte in that file;
	// Length its size in bytes including the final newline.
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
	// Timestamp is as written; UTC is the same instant as
	// 2006-01-02T15:04:05.000000Z (a naive legacy timestamp read in
	// Options.Location).
	Timestamp  string `json:"timestamp"`
	UTC        string `json:"utc"`
	Level      string `json:"level"`
	LoggerName string `json:"logger_name"`
	// Prefix fields as written (empty / 0 when the record has no prefix or
	// the prefix lacks them); GithubUser is the API user, unescaped.
	HookID     string `json:"hook_id"`
	EventType  string `json:"event_type"`
	Repository string `json:"repository"`
	PRNumber   int    `json:"pr_number"`
	GithubUser string `json:"github_user"`
	// Legacy markers; Step is TaskType, else TaskID, else "".
	Step       string `json:"step"`
	TaskID     string `json:"task_id"`
	TaskType   string `json:"task_type"`
	TaskStatus string `json:"task_status"`
	// TokenSpend is N of "token *****  N API calls", null if absent.
	TokenSpend *int `json:"token_spend"`
	// Message is ANSI-stripped, without the webhook prefix (and the space
	// after its colon), without legacy markers (and the space after each),
	// without the DuplicateFilter suffix; continuation and traceback lines
	// are kept, joined by "\n", with nothing trimmed (a message ending in
	// "\n" keeps it).
	Message string `json:"message"`
	// Summary is the parsed `[SUCCESS|FAILED] Webhook completed …` line.
	Summary *Summary `json:"summary"`
	// JSONL is the webhooks_YYYY-MM-DD.json file that holds the record's
	// log_entry copy (same timestamp string, level and logger name; the
	// message with its prefix, without ANSI and traceback; the traceback
	// as exc_info), "" when there is none (Options.JSONL not
	// JSONLCurrent).
	JSONL string `json:"jsonl"`
	// JSONLHookID and JSONLPRNumber are the hook_id and pr_number of the
	// log_entry copy: the delivery's for every record but the request
	// handler's (whose copy has no hook fields), the unprefixed token
	// selection lines included; the PR only once a `[PR n]` record of the
	// delivery was written. Its event_type and repository are the
	// delivery's; its api_user is "".
	JSONLHookID   string `json:"jsonl_hook_id"`
	JSONLPRNumber int    `json:"jsonl_pr_number"`
}

// Summary is a parsed text summary line.
type Summary struct {
	// Status is "SUCCESS" or "FAILED", as written.
	Status string `json:"status"`
	// PRNumber is 0 when the line has no PR#n.
	PRNumber int `json:"pr_number"`
	// DurationMS is the total as written (format_duration precision).
	DurationMS int64 `json:"duration_ms"`
	// Tokens is null when the line has no ", tokens:N".
	Tokens *int          `json:"tokens"`
	Steps  []SummaryStep `json:"steps"`
}

// SummaryStep is one `name:status(duration)` item of a summary line.
type SummaryStep struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// DurationMS is null for `(incomplete)`.
	DurationMS *int64 `json:"duration_ms"`
}

// ManifestDelivery is the manifest line written after a delivery's last
// record: its expected outcome.
type ManifestDelivery struct {
	// Kind is "delivery".
	Kind       string `json:"kind"`
	HookID     string `json:"hook_id"`
	EventType  string `json:"event_type"`
	Repository string `json:"repository"`
	PRNumber   int    `json:"pr_number"`
	GithubUser string `json:"github_user"`
	Legacy     bool   `json:"legacy"`
	// Failed is true when the delivery ended in failure; FailingStep is
	// the step that failed (4.1.0 step name; in legacy mode the marker
	// step name, e.g. "repo_clone" or "pr_management"), "" on success.
	Failed      bool   `json:"failed"`
	FailingStep string `json:"failing_step"`
	// HasErrors: an ERROR or CRITICAL record or a failed step (legacy
	// tox failures included) belongs to the delivery.
	HasErrors bool `json:"has_errors"`
	// Records is how many records were written with its hook id or for it
	// (unprefixed lines included), and their first and last timestamps.
	Records        int    `json:"records"`
	FirstTimestamp string `json:"first_timestamp"`
	LastTimestamp  string `json:"last_timestamp"`
	// Status is upstream's summary status of a 4.1.0 delivery: "success",
	// "partial" (succeeded, but the merge check said it cannot be merged)
	// or "failed"; "" in legacy mode.
	Status string `json:"status"`
	// JSONL is the webhooks_YYYY-MM-DD.json file that holds the delivery's
	// webhook_summary line, "" when there is none.
	JSONL string `json:"jsonl"`
	// Steps are the 4.1.0 workflow steps in start order, as the
	// webhook_summary line has them; nil in legacy mode.
	Steps []ManifestStep `json:"steps"`
}

// ManifestStep is one workflow step of a 4.1.0 delivery.
type ManifestStep struct {
	Name string `json:"name"`
	// Status is "started" (never finished), "completed" or "failed".
	Status string `json:"status"`
	// Timestamp is when it started, as isoformat() writes it.
	Timestamp string `json:"timestamp"`
	// DurationMS is exact (the text summary rounds it above a minute);
	// null while started.
	DurationMS *int64 `json:"duration_ms"`
	// ErrorType is the exception's class name of a failed step
	// ("RuntimeError", "GithubException", "ReadTimeout"), else "".
	ErrorType string `json:"error_type"`
}
