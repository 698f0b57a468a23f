package webhookserver

// field is a value found in a line: line[start:end], which still holds the
// `\[` and `\]` escapes of upstream's _sanitize_log_value when escaped is set.
type field struct {
	start, end int
	escaped    bool
}

func (f field) set() bool { return f.end > f.start }

// prefix is the webhook prefix upstream's prepare_log_prefix puts in front
// of a message, in its three shapes:
//
//	 [event][delivery]:                      request handler (empty repository)
//	repo [event][delivery]:                  background task
//	repo [event][delivery][api_user][PR n]:  GithubWebhook and handlers
//
// The repository is ANSI coloured in the third shape; prefixes are matched
// on the stripped message.
type prefix struct {
	repo, event, hook, user field
	pr                      int64
	// body is where the message proper starts.
	body int
}

// scanPrefix matches the webhook prefix at the start of line (the first
// line of a stripped message). It is the hand-written form of
//
//	^ *(?:([^\s\[\]]+) )?\[g\]\[g\](?:\[g\])?(?:\[PR (\d+)\])?: ?  with g = (?:\\.|[^\]\\])+
//
// where a third group of the form "PR n" is the pull request.
func scanPrefix(line []byte) (prefix, bool) {
	i := 0
	for i < len(line) && line[i] == ' ' {
		i++
	}
	// A repository name is a run of non-space bytes without brackets (the
	// regex's \S+ would also take " [e][d]:" of " [e][d]: [a][b]: msg").
	j := i
	for j < len(line) && !isSpace(line[j]) && line[j] != '[' && line[j] != ']' {
		j++
	}
	if j > i && j+1 < len(line) && line[j] == ' ' && line[j+1] == '[' {
		if p, ok := scanGroups(line, j+1); ok {
			p.repo = field{start: i, end: j}
			return p, true
		}
	}
	return scanGroups(line, i)
}

// scanGroups matches the bracket groups of a prefix, and the colon after
// them, at line[i:].
func scanGroups(line []byte, i int) (prefix, bool) {
	var p prefix
	var groups [4]field
	n := 0
	for n < len(groups) && i < len(line) && line[i] == '[' {
		g, next, ok := scanGroup(line, i)
		if !ok {
			break
		}
		groups[n] = g
		n++
		i = next
	}
	if n < 2 || i >= len(line) || line[i] != ':' {
		return p, false
	}
	i++
	if i < len(line) && line[i] == ' ' {
		i++
	}
	p.event, p.hook, p.body = groups[0], groups[1], i
	switch n {
	case 3:
		if pr, ok := prGroup(line, groups[2]); ok {
			p.pr = pr
		} else {
			p.user = groups[2]
		}
	case 4:
		pr, ok := prGroup(line, groups[3])
		if !ok {
			return p, false
		}
		p.user, p.pr = groups[2], pr
	}
	return p, true
}

// scanGroup matches one `[…]` group, with backslash escapes, at line[i:].
func scanGroup(line []byte, i int) (g field, next int, ok bool) {
	j := i + 1
	for j < len(line) && line[j] != ']' {
		if line[j] == '\\' {
			if j+1 >= len(line) {
				return g, 0, false
			}
			g.escaped = true
			j++
		}
		j++
	}
	if j >= len(line) || j == i+1 {
		return g, 0, false
	}
	g.start, g.end = i+1, j
	return g, j + 1, true
}

// prGroup parses a group that reads "PR <n>".
func prGroup(line []byte, g field) (int64, bool) {
	b := line[g.start:g.end]
	if g.escaped || !hasPrefix(b, "PR ") {
		return 0, false
	}
	v, n := leadingInt(b[3:])
	if n == 0 || 3+n != len(b) {
		return 0, false
	}
	return v, true
}

// appendUnescaped appends b to dst with `\[` and `\]` turned back into `[`
// and `]`; other backslashes are kept.
func appendUnescaped(dst, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) && (b[i+1] == '[' || b[i+1] == ']') {
			i++
		}
		dst = append(dst, b[i])
	}
	return dst
}

// markers are the legacy 4.0.x task tokens that format_task_fields put right
// after the prefix: `[task_id=X] [task_type=Y] [task_status=Z] `.
type markers struct {
	id, typ, status field
}

// scanMarkers matches the task tokens at the start of line, in any order,
// each at most once, and returns them with the length they take up
// (including the space after each).
func scanMarkers(line []byte) (m markers, n int) {
	for {
		rest := line[n:]
		var dst *field
		var key int
		switch {
		case hasPrefix(rest, "[task_id="):
			dst, key = &m.id, len("[task_id=")
		case hasPrefix(rest, "[task_type="):
			dst, key = &m.typ, len("[task_type=")
		case hasPrefix(rest, "[task_status="):
			dst, key = &m.status, len("[task_status=")
		default:
			return m, n
		}
		if dst.set() {
			return m, n
		}
		start := n + key
		j := start
		escaped := false
		for j < len(line) && line[j] != ']' {
			if line[j] == '\\' && j+1 < len(line) {
				escaped = true
				j++
			}
			j++
		}
		if j >= len(line) || j == start {
			return m, n
		}
		*dst = field{start: start, end: j, escaped: escaped}
		n = j + 1
		if n < len(line) && line[n] == ' ' {
			n++
		}
	}
}
