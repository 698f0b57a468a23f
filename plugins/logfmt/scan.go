package logfmt

import "bytes"

// pairKind tells how a pair's value is written.
type pairKind uint8

const (
	bare          pairKind = iota // key
	plain                         // key=value or key=
	quoted                        // key="value" without escapes
	quotedEscaped                 // key="value" with a backslash
)

// pair is one key and value of a line, as offsets into the line. The
// value excludes the quotes.
type pair struct {
	keyStart, keyEnd int
	valStart, valEnd int
	kind             pairKind
}

func (p *pair) key(line []byte) []byte { return line[p.keyStart:p.keyEnd] }

// keyByte is the set of bytes a key is made of: all but white space, '='
// and '"'.
var keyByte = func() (t [256]bool) {
	for c := range t {
		t[c] = c > ' ' && c != '=' && c != '"'
	}
	return t
}()

// scan appends the pairs of line to pairs. It reports false when the line
// is not logfmt: a syntax error, or no key=value pair at all.
func scan(line []byte, pairs []pair) ([]pair, bool) {
	valued := false
	i, n := 0, len(line)
	for {
		for i < n && line[i] <= ' ' {
			i++
		}
		if i == n {
			return pairs, valued
		}
		p := pair{keyStart: i}
		for i < n && keyByte[line[i]] {
			i++
		}
		p.keyEnd = i
		if p.keyEnd == p.keyStart || i < n && line[i] == '"' {
			return pairs, false // '=' without a key, or a quote in a key
		}
		if i == n || line[i] != '=' {
			p.valStart, p.valEnd = i, i
			pairs = append(pairs, p)
			continue
		}
		i++ // '='
		valued = true
		if i < n && line[i] == '"' {
			i++
			p.valStart = i
			p.kind = quoted
			for {
				q := bytes.IndexByte(line[i:], '"')
				if q < 0 {
					return pairs, false // unterminated quote
				}
				e := bytes.IndexByte(line[i:i+q], '\\')
				if e < 0 {
					i += q
					break
				}
				p.kind = quotedEscaped
				i += e + 2 // the backslash and the byte it escapes
				if i >= n {
					return pairs, false
				}
			}
			p.valEnd = i
			i++ // closing quote
			if i < n && line[i] > ' ' {
				return pairs, false // text glued to the closing quote
			}
		} else {
			p.valStart = i
			p.kind = plain
			for i < n && line[i] > ' ' {
				i++
			}
			p.valEnd = i
		}
		pairs = append(pairs, p)
	}
}
