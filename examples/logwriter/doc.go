// Package logwriter generates realistic myk-org/github-webhook-server text
// logs, byte-exact to what python-simple-logger/colorlog write (see
// reference/github-webhook-server.md §1, §2, §4), together with a manifest
// of what a correct parser must extract from them.
//
// # Output
//
// Every record is
//
//	<ts> <logger> <levelcolour><LEVEL>\x1b[0m <message>\x1b[0m[\n<traceback>]\n
//
// where <ts> is Python's isoformat() (UTC with "+00:00", the fraction
// omitted when the microseconds are 0; naive local time in legacy mode),
// <logger> is Options.File until the first webhook handler line and
// "GithubWebhook" after it, and CRITICAL's colour is two escapes. Messages
// carry one of upstream's three prefix shapes
//
//	 [event][hook_id]: …                                  request handler (leading space)
//	repo [event][hook_id]: …                              background task
//	\x1b[38;5;Nmrepo\x1b[0m [event][hook_id][user][PR n]: …   handlers ([PR n] once known)
//
// or none (the token-selection helpers, including colorama's coloured
// rate-limit line). Multi-line messages ("cannot be merged: …\n…\n",
// command stderr, a YAML dump, a fenced check-run output) leave a last line
// that holds only "\x1b[0m" when they end in "\n"; ERROR records of failed
// deliveries carry Python tracebacks (one chained, with blank lines). A
// simulated DuplicateFilter drops repeated records and suffixes the next
// one with " --- [DuplicateFilter: Last log `…` repeated N times]". A
// 4.1.0 delivery ends with "[SUCCESS] Webhook completed PR#n [7s712ms,
// tokens:23] steps=[…]" or, after "Unexpected error in background webhook
// processing" and its traceback, "[FAILED] … steps=[webhook_routing:
// started(incomplete), repo_clone:failed(812ms)]". Legacy (4.0.x) mode
// writes naive timestamps, STEP/SUCCESS levels and "[task_id=…]
// [task_type=…] [task_status=…]" markers instead of summary lines.
//
// Deliveries (pull_request, check_run, issue_comment, push; hook ids are
// GUIDs) run Options.Concurrency at a time and interleave by simulated
// time, which starts at Options.Clock() and advances milliseconds between
// lines and seconds between steps. With Rate > 0 records are instead
// stamped with Clock() as they are written. Output is a pure function of
// Options (Seed, Clock, …) when Rate is 0 or Clock is fixed.
//
// Rotation follows RotatingFileHandler: before a record that would bring a
// non-empty file to MaxBytes, the file is closed, base.(B-1) … base.1 are
// renamed one up (base.B is replaced, so at most Backups files are kept),
// base becomes base.1 and a new base file (a new inode) is opened. With
// Options.Rotation = RotateCopyTruncate it follows logrotate's copytruncate
// instead, at the same moments: base.(B-1) … base.1 are renamed one up,
// base is copied to a new base.1 and truncated to zero in place, and
// writing goes on through the same descriptor (O_APPEND) at offset 0 of
// the same inode; nothing is written between the copy and the truncation,
// the window in which a live logger's lines are lost to that method. Each
// record is written with one write call (or, with BatchBytes at Rate 0,
// several whole records per call), so a concurrent reader never sees part
// of a record unless it reads during that call.
//
// # Manifest
//
// With Options.Manifest set, Run writes JSON lines (keys always present):
//
//	{"kind":"record","file":"webhook-server.log","generation":0,"offset":0,"length":143,
//	 "timestamp":"2026-07-31T10:15:02.101877+00:00","utc":"2026-07-31T10:15:02.101877Z",
//	 "level":"INFO","logger_name":"GithubWebhook","hook_id":"6143a030-…","event_type":"pull_request",
//	 "repository":"","pr_number":0,"github_user":"","step":"","task_id":"","task_type":"",
//	 "task_status":"","token_spend":null,"message":"Processing webhook","summary":null,
//	 "jsonl":"","jsonl_hook_id":"","jsonl_pr_number":0}
//
// one per record written, in file order (see ManifestRecord for each
// field, and Summary for "summary", which is non-null on summary lines:
// {"status","pr_number","duration_ms","tokens","steps":[{"name","status",
// "duration_ms"}]}), and after a delivery's last record
//
//	{"kind":"delivery","hook_id":"…","event_type":"…","repository":"…","pr_number":890,
//	 "github_user":"…","legacy":false,"failed":true,"failing_step":"repo_clone",
//	 "has_errors":true,"records":31,"first_timestamp":"…","last_timestamp":"…",
//	 "status":"failed","jsonl":"webhooks_2026-07-31.json","steps":[{"name":"webhook_routing",
//	 "status":"started","timestamp":"…","duration_ms":null,"error_type":""},…]}
//
// (ManifestDelivery). Records dropped by the DuplicateFilter have no line.
// Options.OnRecord and Options.OnDelivery receive the same lines as values.
//
// # JSONL
//
// With Options.JSONL, Run also writes upstream's webhooks_YYYY-MM-DD.json
// (reference §2.2) in Dir, one file per UTC date of its lines, in Python's
// json.dumps format (", " and ": ", non-ASCII as is). JSONLCurrent (4.1.0)
// writes JsonLogHandler's line after every text record — the same
// timestamp string, level and logger name, the message with its prefix and
// DuplicateFilter suffix but without ANSI or traceback, the traceback as
// exc_info, and, for every record but the request handler's, the
// WebhookContext's hook_id, event_type, repository, pr_number (null until a
// `[PR n]` record was written) and api_user ("") — and after a delivery's
// summary record StructuredLogWriter's webhook_summary line: status
// success, partial (the merge check said it cannot be merged) or failed,
// timing, workflow_steps with their start data, durations and errors,
// token_spend, rate limits, error, and the summary text. JSONLLegacy writes
// only the summaries, without the keys added on 2026-03-15. The manifest
// names the JSONL file of each record's copy ("jsonl") and of each
// delivery's summary. The text output is the same with or without the
// JSONL: what only the JSONL shows (sender, PR author) comes from a random
// stream of its own.
package logwriter
