package jsonparser

import "github.com/hooktail/hooktail/plugins/internal/fieldmap"

// A hand-written JSON scanner: it validates a record as strictly as
// encoding/json (RFC 8259; FuzzScan checks the two agree) but allocates
// nothing and decodes nothing it does not need. It records the members of
// the top-level object, and of the nested objects the mapping's dotted
// paths lead into, as offsets into the record; every other value is only
// validated and skipped.

// maxDepth is the deepest nesting accepted, encoding/json's limit.
const maxDepth = 10000

// member is one member of a scanned object.
type member struct {
	// keyStart:keyEnd is the key as written, without its quotes.
	keyStart, keyEnd int
	// ukStart:ukEnd is the key unescaped in scanner.keys, when keyEsc.
	ukStart, ukEnd int
	// valStart:valEnd is the value as written.
	valStart, valEnd int
	// parent is the member whose object holds this one (-1: the record's
	// object); next is the next member of the same object (-1: none);
	// firstChild is the first member of this one's object when descended.
	parent, next, firstChild int
	// node is the mapping node of the member's path, nil if none.
	node *node
	// kind is the first byte of the value: '"', '{', '[', 't', 'f', 'n',
	// or '-' or a digit for a number.
	kind   byte
	keyEsc bool
	// descended: the value is an object whose members were recorded.
	descended bool

	// Set while resolving the mapping.
	superseded bool // a later member of the same object has the same key
	used       bool // a field took the value
	usedBelow  bool // a field took a value inside the member's object
	keptChild  bool // a member of the member's object goes to Details
}

// scanner scans records; one per goroutine.
type scanner struct {
	rec     []byte
	members []member
	keys    []byte // unescaped keys
}

// key returns m's key unescaped.
func (s *scanner) key(m *member) []byte {
	if m.keyEsc {
		return s.keys[m.ukStart:m.ukEnd]
	}
	return s.rec[m.keyStart:m.keyEnd]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *scanner) skipSpace(i int) int {
	for i < len(s.rec) && isSpace(s.rec[i]) {
		i++
	}
	return i
}

// scanRecord scans the object rec starts with, after any white space,
// recording its members and those of the objects root's paths lead into.
// It returns the offset just past the object.
func (s *scanner) scanRecord(rec []byte, root *node) (int, bool) {
	s.rec = rec
	s.members = s.members[:0]
	s.keys = s.keys[:0]
	i := s.skipSpace(0)
	if i >= len(rec) || rec[i] != '{' {
		return 0, false
	}
	return s.scanObject(i, -1, root, 1)
}

// scanObject scans the object at rec[i], recording its members as children
// of parent (-1: the record's object), looked up in n.
func (s *scanner) scanObject(i, parent int, n *node, depth int) (int, bool) {
	rec := s.rec
	i = s.skipSpace(i + 1)
	if i < len(rec) && rec[i] == '}' {
		return i + 1, true
	}
	prev := -1
	for {
		if i >= len(rec) || rec[i] != '"' {
			return 0, false
		}
		m := member{keyStart: i + 1, parent: parent, next: -1, firstChild: -1}
		end, esc, ok := s.skipString(i)
		if !ok {
			return 0, false
		}
		m.keyEnd = end - 1
		if esc {
			m.keyEsc = true
			m.ukStart = len(s.keys)
			s.keys = fieldmap.AppendUnescaped(s.keys, rec[m.keyStart:m.keyEnd])
			m.ukEnd = len(s.keys)
		}
		i = s.skipSpace(end)
		if i >= len(rec) || rec[i] != ':' {
			return 0, false
		}
		i = s.skipSpace(i + 1)
		if i >= len(rec) {
			return 0, false
		}
		m.valStart = i
		m.kind = rec[i]
		if n != nil {
			m.node, _ = n.children.Lookup(s.key(&m))
		}
		idx := len(s.members)
		s.members = append(s.members, m)
		if prev >= 0 {
			s.members[prev].next = idx
		} else if parent >= 0 {
			s.members[parent].firstChild = idx
		}
		prev = idx
		if m.kind == '{' && m.node != nil && m.node.children != nil {
			if depth >= maxDepth {
				return 0, false
			}
			s.members[idx].descended = true
			end, ok = s.scanObject(i, idx, m.node, depth+1)
		} else {
			end, ok = s.skipValue(i, depth)
		}
		if !ok {
			return 0, false
		}
		s.members[idx].valEnd = end
		i = s.skipSpace(end)
		if i >= len(rec) {
			return 0, false
		}
		switch rec[i] {
		case ',':
			i = s.skipSpace(i + 1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// skipValue validates the value at rec[i] and returns the offset just
// past it. depth is the nesting of the value's container.
func (s *scanner) skipValue(i, depth int) (int, bool) {
	rec := s.rec
	switch rec[i] {
	case '"':
		end, _, ok := s.skipString(i)
		return end, ok
	case '{', '[':
		if depth >= maxDepth {
			return 0, false
		}
		return s.skipContainer(i, depth+1)
	case 't':
		return literal(rec, i, "true")
	case 'f':
		return literal(rec, i, "false")
	case 'n':
		return literal(rec, i, "null")
	}
	return skipNumber(rec, i)
}

// skipContainer validates the object or array at rec[i].
func (s *scanner) skipContainer(i, depth int) (int, bool) {
	rec := s.rec
	object := rec[i] == '{'
	closer := byte(']')
	if object {
		closer = '}'
	}
	i = s.skipSpace(i + 1)
	if i < len(rec) && rec[i] == closer {
		return i + 1, true
	}
	for {
		if i >= len(rec) {
			return 0, false
		}
		var ok bool
		if object {
			if rec[i] != '"' {
				return 0, false
			}
			if i, _, ok = s.skipString(i); !ok {
				return 0, false
			}
			i = s.skipSpace(i)
			if i >= len(rec) || rec[i] != ':' {
				return 0, false
			}
			i = s.skipSpace(i + 1)
			if i >= len(rec) {
				return 0, false
			}
		}
		if i, ok = s.skipValue(i, depth); !ok {
			return 0, false
		}
		i = s.skipSpace(i)
		if i >= len(rec) {
			return 0, false
		}
		switch rec[i] {
		case ',':
			i = s.skipSpace(i + 1)
		case closer:
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// strPlain marks the bytes a string holds as they are: not '"', '\\' or a
// control character. (The record is valid UTF-8: checked before.)
var strPlain = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

// skipString validates the string at rec[i] (a '"') and returns the
// offset just past its closing quote and whether it has escapes.
func (s *scanner) skipString(i int) (end int, escaped, ok bool) {
	rec := s.rec
	i++
	for {
		for i < len(rec) && strPlain[rec[i]] {
			i++
		}
		if i >= len(rec) {
			return 0, false, false
		}
		switch rec[i] {
		case '"':
			return i + 1, escaped, true
		case '\\':
			escaped = true
			if i+1 >= len(rec) {
				return 0, false, false
			}
			switch rec[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(rec) || !isHex(rec[k]) {
						return 0, false, false
					}
				}
				i += 6
			default:
				return 0, false, false
			}
		default: // a control character
			return 0, false, false
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func literal(rec []byte, i int, lit string) (int, bool) {
	if len(rec)-i < len(lit) || string(rec[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// skipNumber validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func skipNumber(rec []byte, i int) (int, bool) {
	if i < len(rec) && rec[i] == '-' {
		i++
	}
	switch {
	case i < len(rec) && rec[i] == '0':
		i++
	case i < len(rec) && '1' <= rec[i] && rec[i] <= '9':
		i = digits(rec, i)
	default:
		return 0, false
	}
	if i < len(rec) && rec[i] == '.' {
		j := digits(rec, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(rec) && (rec[i] == 'e' || rec[i] == 'E') {
		i++
		if i < len(rec) && (rec[i] == '+' || rec[i] == '-') {
			i++
		}
		j := digits(rec, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func digits(rec []byte, i int) int {
	for i < len(rec) && '0' <= rec[i] && rec[i] <= '9' {
		i++
	}
	return i
}

// appendCompact appends v, a valid JSON value, without the white space
// between its tokens.
func appendCompact(dst, v []byte) []byte {
	start := 0
	inString := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case isSpace(c):
			dst = append(dst, v[start:i]...)
			start = i + 1
		}
	}
	return append(dst, v[start:]...)
}
