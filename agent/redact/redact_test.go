package redact_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/hooktail/hooktail/agent/redact"
	"github.com/hooktail/hooktail/plugins"
)

func TestString(t *testing.T) {
	r := redact.New([]*regexp.Regexp{
		regexp.MustCompile(`(?i)secret=(\S+)`),
		regexp.MustCompile(`hunter2`),
	})
	f := func(in, want string) {
		t.Helper()
		if got := r.String(in); got != want {
			t.Errorf("String(%q)\n got %q\nwant %q", in, got, want)
		}
	}
	const tok = "ghp_0123456789abcdefghijABCDEFGHIJ012345"
	f("", "")
	f("nothing to hide here", "nothing to hide here")
	f("token "+tok+" 23 API calls", "token ***REDACTED*** 23 API calls")
	f("a github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz b", "a ***REDACTED*** b")
	f("gho_abcdefghijklmnopqrstuvwxyz and ghs_ABCDEFGHIJKLMNOPQRSTUVWXYZ", "***REDACTED*** and ***REDACTED***")
	f("ghp_short stays", "ghp_short stays")
	f("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "Authorization: Bearer ***REDACTED***")
	f("BASIC dXNlcjpwYXNzd29yZA==", "BASIC ***REDACTED***")
	f("Authorization: token abcdefgh12345678", "Authorization: token ***REDACTED***")
	f("basic setup done", "basic setup done")
	f("git clone https://x-access:s3cr3tpass@github.com/o/r.git", "git clone https://x-access:***REDACTED***@github.com/o/r.git")
	f("https://***REDACTED***@github.com/o/r.git", "https://***REDACTED***@github.com/o/r.git")
	f("mail me at a@b.c, see https://github.com/x", "mail me at a@b.c, see https://github.com/x")
	f("SECRET=abc123 next", "SECRET=***REDACTED*** next")
	f("password hunter2!", "password ***REDACTED***!")
	f("multi\nline ghr_abcdefghijklmnopqrstuvwxyz\nend", "multi\nline ***REDACTED***\nend")
	if got := r.Count(); got != 11 {
		t.Errorf("Count() = %d, want 11", got)
	}
}

func TestEntry(t *testing.T) {
	r := redact.New(nil)
	const tok = "ghs_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
	e := plugins.Entry{
		Message: "clone with " + tok,
		ExcInfo: "Traceback: " + tok,
		Details: []byte(`{"x":"` + tok + `"}`),
		Completion: &plugins.Completion{
			Error: &plugins.ErrorInfo{Message: tok, Traceback: tok},
			Steps: []plugins.Step{{Name: "s", Error: &plugins.ErrorInfo{Message: tok}, Details: []byte(`"` + tok + `"`)}},
		},
	}
	r.Entry(&e)
	all := e.Message + e.ExcInfo + string(e.Details) + e.Completion.Error.Message + e.Completion.Error.Traceback +
		e.Completion.Steps[0].Error.Message + string(e.Completion.Steps[0].Details)
	if strings.Contains(all, tok) {
		t.Errorf("token left in %+v", e)
	}
	if strings.Count(all, redact.Mask) != 7 {
		t.Errorf("want 7 masks in %q", all)
	}
}

// tokenRE is what the hand-written GitHub token scanner must agree with.
var tokenRE = regexp.MustCompile(`(?:^|[^A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})`)

func FuzzString(f *testing.F) {
	f.Add("token ghp_0123456789abcdefghijABCDEFGHIJ012345 x")
	f.Add("https://u:p@h/ Bearer abcdefghij")
	f.Add("tokenaghp_00000000000000000000000000000000000000")
	f.Add("Authorization: token abcdefgh12345678 github_pat_11ABCDEFG0123456789_abcdefghij")
	r := redact.New(nil)
	f.Fuzz(func(t *testing.T, s string) {
		out := r.String(s)
		if tokenRE.MatchString(out) {
			t.Errorf("GitHub token left: %q → %q", s, out)
		}
		if r.String(out) != out {
			t.Errorf("not idempotent: %q → %q → %q", s, out, r.String(out))
		}
	})
}

func BenchmarkStringClean(b *testing.B) {
	r := redact.New(nil)
	s := "Adding pull request label size/M to PR 890 of github-webhook-server, check-run basically done"
	b.ReportAllocs()
	for b.Loop() {
		r.String(s)
	}
}

// TestDetailsStayJSON checks that a pattern eating JSON syntax leaves the
// details valid JSON (as a string) with the secret masked.
func TestDetailsStayJSON(t *testing.T) {
	r := redact.New([]*regexp.Regexp{regexp.MustCompile(`pw=[^ ]+`)})
	e := plugins.Entry{Details: []byte(`{"cmd":"login pw=hunter2","n":1}`)}
	r.Entry(&e)
	if !json.Valid(e.Details) || strings.Contains(string(e.Details), "hunter2") {
		t.Errorf("details = %s", e.Details)
	}
}

// TestStats checks that every mask is counted under its rule, and that a
// Redactor made WithPatterns applies only its own patterns but keeps adding
// to the same counters.
func TestStats(t *testing.T) {
	r := redact.New([]*regexp.Regexp{regexp.MustCompile(`hunter2`)})
	r.String("ghp_0123456789abcdefghijABCDEFGHIJ012345 and gho_abcdefghijklmnopqrstuvwxyz")
	r.String("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc https://u:pw@x.org/ hunter2")
	want := redact.Stats{}
	want.Redactions[redact.RuleGitHubToken] = 2
	want.Redactions[redact.RuleAuthCredential] = 1
	want.Redactions[redact.RuleURLPassword] = 1
	want.Redactions[redact.RulePattern] = 1
	if got := r.Stats(); got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}

	r2 := r.WithPatterns([]*regexp.Regexp{regexp.MustCompile(`swordfish`)})
	if got, want := r2.String("hunter2 swordfish"), "hunter2 "+redact.Mask; got != want {
		t.Errorf("reloaded String() = %q, want %q (only the new patterns apply)", got, want)
	}
	want.Redactions[redact.RulePattern] = 2
	if got := r.Stats(); got != want {
		t.Errorf("Stats() after the reloaded redactor masked one = %+v, want %+v (shared counters)", got, want)
	}
	if got, want := r2.Stats().Total(), int64(6); got != want {
		t.Errorf("Total() = %d, want %d", got, want)
	}
	for _, rule := range redact.Rules() {
		if rule.String() == "unknown" {
			t.Errorf("rule %d has no label", rule)
		}
	}
}
