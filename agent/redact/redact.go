// Package redact removes secrets from parsed entries before they leave the
// host: GitHub tokens, bearer and basic credentials, passwords in URLs, and
// the operator's own patterns (SPEC §6).
//
// The built-in rules are hand-written scanners keyed on bytes that are rare
// in log text ('_', 'b', 'z', ':'), because they run on every message: a
// regexp per message would cost more than parsing it.
package redact

import (
	"encoding/json"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/hooktail/hooktail/plugins"
)

// Mask replaces a secret.
const Mask = "***REDACTED***"

// minSecret is the shortest credential masked after an auth scheme, so that
// prose ("basic setup") stays.
const minSecret = 8

// Rule is a kind of redaction rule, for the counters.
type Rule int

// The rule kinds.
const (
	// RuleGitHubToken masks gh[pousr]_… and github_pat_… tokens.
	RuleGitHubToken Rule = iota
	// RuleAuthCredential masks the credential after Bearer, Basic and
	// "Authorization: token".
	RuleAuthCredential
	// RuleURLPassword masks the password of scheme://user:password@host.
	RuleURLPassword
	// RulePattern masks what an operator's redact pattern matches.
	RulePattern
	numRules
)

// String is the rule kind's metric label.
func (k Rule) String() string {
	switch k {
	case RuleGitHubToken:
		return "github_token"
	case RuleAuthCredential:
		return "auth_credential"
	case RuleURLPassword:
		return "url_password"
	case RulePattern:
		return "pattern"
	}
	return "unknown"
}

// Rules lists every rule kind, in order.
func Rules() []Rule { return []Rule{RuleGitHubToken, RuleAuthCredential, RuleURLPassword, RulePattern} }

// Stats counts the secrets masked, by rule kind.
type Stats struct {
	// Redactions is indexed by Rule.
	Redactions [numRules]int64
}

// Total is the number of secrets masked by every rule.
func (s Stats) Total() int64 {
	var n int64
	for _, c := range s.Redactions {
		n += c
	}
	return n
}

// Redactor masks secrets. It is safe for concurrent use.
type Redactor struct {
	patterns []*regexp.Regexp
	// counts is shared by the Redactors made with WithPatterns, so that
	// the counters survive a configuration reload.
	counts *[numRules]atomic.Int64
}

// New returns a Redactor with the built-in rules plus patterns. A pattern's
// first capture group is masked if it has one, else the whole match.
func New(patterns []*regexp.Regexp) *Redactor {
	return &Redactor{patterns: patterns, counts: new([numRules]atomic.Int64)}
}

// WithPatterns returns a Redactor with the built-in rules plus patterns
// (replacing r's) that adds to r's counters: a reloaded configuration's
// redactor keeps counting where the old one stopped.
func (r *Redactor) WithPatterns(patterns []*regexp.Regexp) *Redactor {
	return &Redactor{patterns: patterns, counts: r.counts}
}

// Count is the number of secrets masked so far, by every rule.
func (r *Redactor) Count() int64 { return r.Stats().Total() }

// Stats returns the counters. It is cheap: a few atomic loads.
func (r *Redactor) Stats() Stats {
	var s Stats
	for i := range r.counts {
		s.Redactions[i] = r.counts[i].Load()
	}
	return s
}

// String masks the secrets in s.
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	s = r.maskSpans(s, RuleGitHubToken, githubTokens(s, nil))
	s = r.maskSpans(s, RuleAuthCredential, authCredentials(s, nil))
	s = r.maskSpans(s, RuleURLPassword, urlPasswords(s, nil))
	for _, p := range r.patterns {
		s = r.maskRegexp(p, s)
	}
	return s
}

// span is s[start:end].
type span struct{ start, end int }

// maskSpans replaces the ascending, disjoint spans of s with Mask and
// counts them under rule.
func (r *Redactor) maskSpans(s string, rule Rule, spans []span) string {
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		b.WriteString(Mask)
		last = sp.end
	}
	b.WriteString(s[last:])
	r.counts[rule].Add(int64(len(spans)))
	return b.String()
}

func (r *Redactor) maskRegexp(re *regexp.Regexp, s string) string {
	locs := re.FindAllStringSubmatchIndex(s, -1)
	if len(locs) == 0 {
		return s
	}
	spans := make([]span, 0, len(locs))
	for _, loc := range locs {
		sp := span{loc[0], loc[1]}
		if len(loc) >= 4 && loc[2] >= 0 {
			sp = span{loc[2], loc[3]}
		}
		if len(spans) > 0 && sp.start < spans[len(spans)-1].end || sp.start == sp.end {
			continue
		}
		spans = append(spans, sp)
	}
	return r.maskSpans(s, RulePattern, spans)
}

// githubTokens finds GitHub tokens: gh[pousr]_ + ≥20 alphanumerics, and
// github_pat_ + ≥20 of [A-Za-z0-9_]. It looks only at '_' bytes.
func githubTokens(s string, dst []span) []span {
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '_')
		if j < 0 {
			return dst
		}
		u := i + j // the '_'
		i = u + 1
		switch {
		case u >= 3 && s[u-3] == 'g' && s[u-2] == 'h' && strings.IndexByte("pousr", s[u-1]) >= 0 && !wordBefore(s, u-3):
			end := u + 1
			for end < len(s) && isAlnum(s[end]) {
				end++
			}
			if end-u-1 >= 20 {
				dst = append(dst, span{u - 3, end})
				i = end
			}
		case u >= 6 && s[u-6:u] == "github" && strings.HasPrefix(s[u:], "_pat_") && !wordBefore(s, u-6):
			end := u + len("_pat_")
			for end < len(s) && (isAlnum(s[end]) || s[end] == '_') {
				end++
			}
			if end-u-len("_pat_") >= 20 {
				dst = append(dst, span{u - 6, end})
				i = end
			}
		}
	}
}

// urlPasswords finds the password of scheme://user:password@host URLs,
// found through their "://".
func urlPasswords(s string, dst []span) []span {
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			return dst
		}
		at := i + j + len("://")
		i = at
		// The userinfo ends at '@'; '/', '?', '#' or a blank first means
		// there is none.
		end := at
		for end < len(s) && s[end] != '@' && s[end] != '/' && s[end] != '?' && s[end] != '#' && s[end] != ' ' && s[end] != '\t' && s[end] != '\n' {
			end++
		}
		if end == len(s) || s[end] != '@' {
			continue
		}
		colon := strings.IndexByte(s[at:end], ':')
		if colon < 0 || at+colon+1 == end || s[at+colon+1:end] == Mask {
			continue
		}
		dst = append(dst, span{at + colon + 1, end})
		i = end
	}
}

// authCredentials finds the credential after "Bearer", "Basic" (any case)
// and GitHub's "Authorization: token", found through their 'b'/'B' and
// 'z'/'Z' bytes. The spans come back sorted.
func authCredentials(s string, dst []span) []span {
	for _, c := range [...]byte{'b', 'B'} {
		for i := 0; ; {
			j := strings.IndexByte(s[i:], c)
			if j < 0 {
				break
			}
			at := i + j
			i = at + 1
			for _, word := range [...]string{"bearer", "basic"} {
				if hasFoldPrefix(s[at:], word) && !wordBefore(s, at) {
					if sp, ok := credentialAfter(s, at+len(word)); ok {
						dst = appendSorted(dst, sp)
						i = sp.end
					}
				}
			}
		}
	}
	const authz = "authorization"
	for _, c := range [...]byte{'z', 'Z'} {
		for i := 0; ; {
			j := strings.IndexByte(s[i:], c)
			if j < 0 {
				break
			}
			z := i + j
			i = z + 1
			at := z - strings.IndexByte(authz, 'z')
			if at < 0 || !hasFoldPrefix(s[at:], authz) || wordBefore(s, at) {
				continue
			}
			k := at + len(authz)
			if k >= len(s) || s[k] != ':' {
				continue
			}
			k = skipBlanks(s, k+1)
			if !hasFoldPrefix(s[k:], "token") {
				continue
			}
			if sp, ok := credentialAfter(s, k+len("token")); ok {
				dst = appendSorted(dst, sp)
				i = sp.end
			}
		}
	}
	return dst
}

// credentialAfter returns the token68 credential (RFC 7235) that follows
// blanks at s[k:], if it is long enough and not already masked.
func credentialAfter(s string, k int) (span, bool) {
	start := skipBlanks(s, k)
	if start == k {
		return span{}, false
	}
	end := start
	for end < len(s) && isToken68(s[end]) {
		end++
	}
	for end < len(s) && s[end] == '=' {
		end++
	}
	if end-start < minSecret {
		return span{}, false
	}
	return span{start, end}, true
}

// appendSorted inserts sp into the sorted, disjoint spans unless it
// overlaps one.
func appendSorted(dst []span, sp span) []span {
	i := len(dst)
	for i > 0 && dst[i-1].start > sp.start {
		i--
	}
	if i > 0 && dst[i-1].end > sp.start || i < len(dst) && sp.end > dst[i].start {
		return dst
	}
	dst = append(dst, span{})
	copy(dst[i+1:], dst[i:])
	dst[i] = sp
	return dst
}

func skipBlanks(s string, k int) int {
	for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
		k++
	}
	return k
}

// hasFoldPrefix reports whether s starts with lower, an ASCII lower-case
// word of letters, in any case. (c|0x20 maps only a letter's two cases to
// its lower case.)
func hasFoldPrefix(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		if s[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isWord(c byte) bool { return isAlnum(c) || c == '_' }

func isToken68(c byte) bool {
	return isWord(c) || c == '-' || c == '.' || c == '~' || c == '+' || c == '/'
}

// wordBefore reports whether a word character precedes s[i].
func wordBefore(s string, i int) bool { return i > 0 && isWord(s[i-1]) }

// Entry masks the secrets in every free-text field of e.
func (r *Redactor) Entry(e *plugins.Entry) {
	e.Message = r.String(e.Message)
	e.ExcInfo = r.String(e.ExcInfo)
	e.Details = r.json(e.Details)
	if c := e.Completion; c != nil {
		r.errorInfo(c.Error)
		for i := range c.Steps {
			r.errorInfo(c.Steps[i].Error)
			c.Steps[i].Details = r.json(c.Steps[i].Details)
		}
	}
}

// json masks the secrets in a JSON document's text. An operator's pattern
// can swallow quotes and leave the text invalid: it is then kept as one
// JSON string, so the structure is lost but neither the data nor a secret.
func (r *Redactor) json(doc json.RawMessage) json.RawMessage {
	if len(doc) == 0 {
		return doc
	}
	d := r.String(string(doc))
	if d == string(doc) {
		return doc
	}
	if !json.Valid([]byte(d)) {
		quoted, _ := json.Marshal(d) // a string always marshals
		return quoted
	}
	return json.RawMessage(d)
}

func (r *Redactor) errorInfo(e *plugins.ErrorInfo) {
	if e == nil {
		return
	}
	e.Message = r.String(e.Message)
	e.Traceback = r.String(e.Traceback)
}
