package sqlite

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text search (EntryFilter.Search, DeliveryFilter.Search) runs on the FTS4
// index entries_fts of the entries' messages (migration 0004). Its meaning:
//
//   - The message is split into words: runs of letters and digits (Unicode),
//     compared case-insensitively and without diacritics.
//   - The search string is split the same way. Unquoted words must all
//     occur in the message, in any order, each as a word prefix: "merge"
//     finds "merged" and "auto-merge", "PR 42" finds "Merged PR 4217".
//   - Text in double quotes is a phrase: its words must occur next to each
//     other in that order, each again as a word prefix ("\"fetch origin\""
//     finds "git fetch origin +refs/…"). An unpaired quote runs to the end.
//   - Everything else (punctuation, FTS operators such as AND, OR, NOT,
//     NEAR, '-', '*', '^', parentheses) is a separator, never syntax.
//   - A search with no word at all matches nothing.
//
// The user's text never reaches the MATCH syntax: matchQuery rebuilds the
// query from the words alone, lowercased (so no word is an operator) and
// each in double quotes.

// maxSearchTerms bounds the words of one search; those past it are ignored
// (each is a doclist merge).
const maxSearchTerms = 16

// matchQuery translates a search string into an FTS4 MATCH expression; ok
// is false when the string holds no word (it matches nothing).
func matchQuery(search string) (expr string, ok bool) {
	var (
		b       strings.Builder
		terms   int
		inQuote bool
		phrase  []string
	)
	emit := func(words []string) {
		if len(words) == 0 {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		for i, w := range words {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
			b.WriteByte('*')
		}
		b.WriteByte('"')
	}
	for i := 0; i < len(search) && terms < maxSearchTerms; {
		r, size := utf8.DecodeRuneInString(search[i:])
		if r == '"' {
			if inQuote {
				emit(phrase)
				phrase = phrase[:0]
			}
			inQuote = !inQuote
			i += size
			continue
		}
		if !isWordRune(r) {
			i += size
			continue
		}
		j := i
		for j < len(search) {
			r, size := utf8.DecodeRuneInString(search[j:])
			if !isWordRune(r) {
				break
			}
			j += size
		}
		word := strings.ToLower(search[i:j])
		i = j
		terms++
		if inQuote {
			phrase = append(phrase, word)
		} else {
			emit([]string{word})
		}
	}
	emit(phrase)
	return b.String(), b.Len() > 0
}

// isWordRune reports whether r belongs to a word: a letter or digit. The
// replacement rune (invalid UTF-8) does not.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
	}
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}
