package e2e_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBadInputStoredAndFlagged writes what a parser must survive — text
// before the first record, NUL bytes, invalid UTF-8, a 10 MiB record,
// binary garbage — and checks that every record is stored, the broken ones
// flagged, and the good records around them intact.
func TestBadInputStoredAndFlagged(t *testing.T) {
	needBinaries(t)
	logs := t.TempDir()
	c := startCluster(t, fmt.Sprintf(`
source "bad" {
  paths = ["%s/*.log"]
}
`, logs))

	const hook = "6143a030-bbd7-11f0-95bd-b07354b8711c"
	header := func(ts, level, msg string) string {
		return ts + " GithubWebhook \x1b[32m" + level + "\x1b[0m github-webhook-server [pull_request][" + hook + "]: " + msg + "\x1b[0m\n"
	}
	var b bytes.Buffer
	b.WriteString("no timestamp on the first line of the file\n")                                    // 1: parse_error
	b.WriteString(header("2026-07-31T10:15:02.000001+00:00", "INFO", "nul \x00 and \xff\xfe bytes")) // 2: valid, sanitised
	b.WriteString(header("2026-07-31T10:15:02.000002+00:00", "ERROR", "huge record follows"))        // 3: truncated
	line := strings.Repeat("x", 1023) + "\n"
	for b.Len() < 11<<20 {
		b.WriteString(line)
	}
	b.WriteString(header("2026-07-31T10:15:02.000003+00:00", "INFO", "after the huge one")) // 4: intact
	b.Write([]byte{0x00, 0x01, 0x02, 0xff, '\n'})                                           // continuation of 4
	b.WriteString(header("2026-07-31T10:15:02.000004+00:00", "WARNING", "last"))            // 5
	if err := os.WriteFile(filepath.Join(logs, "webhook-server.log"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	eventually(t, 60*time.Second, "5 entries stored", func() error {
		n, err := c.total(t.Context())
		if err != nil {
			return err
		}
		if n != 5 {
			return fmt.Errorf("%d stored", n)
		}
		return nil
	})
	type entry struct {
		Timestamp  *string `json:"timestamp"`
		Level      *string `json:"level"`
		Message    string  `json:"message"`
		HookID     *string `json:"hook_id"`
		ParseError bool    `json:"parse_error"`
		Truncated  bool    `json:"truncated"`
		Offset     int64   `json:"offset"`
	}
	var page struct{ Entries []entry }
	if _, err := getJSON(t.Context(), c.httpBase+"/logs/api/entries?limit=100", &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 5 {
		t.Fatalf("listed %d entries, want 5", len(page.Entries))
	}
	byOffset := map[int64]entry{}
	for _, e := range page.Entries {
		byOffset[e.Offset] = e
	}
	first := byOffset[0]
	if !first.ParseError || first.Message != "no timestamp on the first line of the file" {
		t.Errorf("first record: parse_error %v, message %q", first.ParseError, first.Message)
	}
	var huge, nul, after *entry
	for _, e := range page.Entries {
		switch {
		case strings.HasPrefix(e.Message, "huge record follows"):
			huge = &e
		case strings.HasPrefix(e.Message, "nul "):
			nul = &e
		case strings.HasPrefix(e.Message, "after the huge one"):
			after = &e
		}
	}
	if huge == nil || nul == nil || after == nil {
		t.Fatalf("records missing: huge %v, nul %v, after %v", huge != nil, nul != nil, after != nil)
	}
	if !huge.Truncated || len(huge.Message) > 1<<20 || len(huge.Message) < 1<<19 {
		t.Errorf("huge record: truncated %v, message of %d bytes; want truncated near 1 MiB", huge.Truncated, len(huge.Message))
	}
	if huge.HookID == nil || *huge.HookID != hook || huge.Level == nil || *huge.Level != "ERROR" {
		t.Errorf("huge record lost its header fields: hook %v level %v", huge.HookID, huge.Level)
	}
	if nul.ParseError || strings.ContainsRune(nul.Message, 0) || !strings.Contains(nul.Message, "\uFFFD") {
		t.Errorf("NUL/invalid UTF-8 record: parse_error %v, message %q", nul.ParseError, nul.Message)
	}
	if after.Truncated || after.ParseError || !strings.HasPrefix(after.Message, "after the huge one\n") {
		t.Errorf("record after the huge one: %+v", after)
	}
}

// TestSecretsNeverStored writes secrets of every built-in kind and one of a
// configured pattern, then checks the API shows them masked and that no byte
// sequence of any secret is in the database files.
func TestSecretsNeverStored(t *testing.T) {
	needBinaries(t)
	logs := t.TempDir()
	c := startCluster(t, fmt.Sprintf(`
source "s" {
  paths = ["%s/*.log"]
}
redact {
  patterns = ["(?i)api_secret=(\\S+)"]
}
`, logs))
	secrets := []string{
		"ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
		"github_pat_11AAAAAAA0bbbbbbbbbbbb_cccccccccccccccccccccccccccccc",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
		"cGFzc3dvcmQ6aHVudGVyMg==",
		"Pa55w0rdInUrl",
		"TopSecretValue42",
	}
	ts := "2026-07-31T10:15:02.00000%d+00:00"
	lines := []string{
		"token " + secrets[0] + " 23 API calls",
		"cloned with " + secrets[1],
		"header Authorization: Bearer " + secrets[2],
		"proxy Basic " + secrets[3],
		"git clone https://bot:" + secrets[4] + "@github.com/o/r.git",
		"config api_secret=" + secrets[5] + " loaded",
	}
	var b strings.Builder
	for i, l := range lines {
		fmt.Fprintf(&b, ts+" GithubWebhook \x1b[31mERROR\x1b[0m repo [push][hook-%d]: %s\x1b[0m\nTraceback (most recent call last):\nValueError: %s\n", i, i, l, l)
	}
	if err := os.WriteFile(filepath.Join(logs, "webhook-server.log"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "entries stored", func() error {
		n, err := c.total(t.Context())
		if err != nil {
			return err
		}
		if n != len(lines) {
			return fmt.Errorf("%d stored", n)
		}
		return nil
	})
	var page struct {
		Entries []struct{ Message string } `json:"entries"`
	}
	if _, err := getJSON(t.Context(), c.httpBase+"/logs/api/entries?limit=100", &page); err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Entries {
		if strings.Count(e.Message, "***REDACTED***") != 2 {
			t.Errorf("message not masked twice (line and traceback): %q", e.Message)
		}
	}
	// Stop the aggregator so that the WAL is checkpointed, then read every
	// database file byte for byte.
	c.agent.stop(t)
	c.agg.stop(t)
	// Every file the aggregator keeps (database, WAL, export files …).
	var files []string
	err := filepath.WalkDir(filepath.Join(c.dir, "aggregator"), func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds the secret %q", filepath.Base(f), s)
			}
		}
	}
}
