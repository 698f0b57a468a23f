package logwriter_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/examples/logwriter"
)

var epoch = time.Date(2026, 7, 31, 10, 15, 2, 0, time.UTC)

func fixedClock() time.Time { return epoch }

// run calls logwriter.Run and returns the stats and the manifest bytes.
func run(t *testing.T, o logwriter.Options) (logwriter.Stats, []byte) {
	t.Helper()
	var mf bytes.Buffer
	o.Manifest = &mf
	if o.Clock == nil {
		o.Clock = fixedClock
	}
	st, err := logwriter.Run(t.Context(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return st, mf.Bytes()
}

func TestDeterministic(t *testing.T) {
	o := logwriter.Options{Seed: 42, Deliveries: 40, FailureRate: 0.3}
	dir1 := t.TempDir()
	o.Dir = dir1
	_, m1 := run(t, o)
	o.Dir = t.TempDir()
	_, m2 := run(t, o)
	f1, _ := os.ReadFile(filepath.Join(dir1, "webhook-server.log"))
	f2, _ := os.ReadFile(filepath.Join(o.Dir, "webhook-server.log"))
	if !bytes.Equal(f1, f2) || !bytes.Equal(m1, m2) {
		t.Fatal("same seed and clock gave different output")
	}
	o.Dir, o.Seed = t.TempDir(), 43
	_, m3 := run(t, o)
	if bytes.Equal(m1, m3) {
		t.Fatal("different seeds gave the same output")
	}

	// Golden: the first records, byte for byte, and a hash of the whole
	// file (update both when the templates change on purpose).
	lines := strings.SplitAfter(string(f1), "\n")
	const first = "2026-07-31T10:15:02.147333+00:00 webhook-server.log \x1b[32mINFO\x1b[0m  [issue_comment][fb92a976-c8e0-1d03-9abf-7e11004b5fd3]: Processing webhook\x1b[0m\n"
	if got := lines[0]; got != first {
		t.Errorf("first record\n got %q\nwant %q", got, first)
	}
	sum := sha256.Sum256(f1)
	if got, want := hex.EncodeToString(sum[:]), goldenSHA256; got != want {
		t.Errorf("sha256 of the seed-42 file = %s, want %s", got, want)
	}
}

const goldenSHA256 = "9568fc454efa5c13552afad5ab5403c8ec80727dd4eff7efaa05e6029deb9458"

func TestManifestMatchesParser(t *testing.T) {
	jerusalem, err := time.LoadLocation("Asia/Jerusalem")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	for name, o := range map[string]logwriter.Options{
		"4.1.0":              {Seed: 7, Deliveries: 400, Concurrency: 6},
		"4.1.0-rotating":     {Seed: 8, Deliveries: 150, MaxBytes: 64 << 10, Backups: 50, BatchBytes: 8192},
		"4.1.0-copytruncate": {Seed: 12, Deliveries: 150, MaxBytes: 64 << 10, Backups: 50, Rotation: logwriter.RotateCopyTruncate},
		"4.0.x-legacy":       {Seed: 9, Deliveries: 300, Legacy: true, Location: jerusalem},
		"4.0.x-legacy-utc":   {Seed: 10, Deliveries: 50, Legacy: true, MaxBytes: 32 << 10, Backups: 50},
		"no-failures-serial": {Seed: 11, Deliveries: 30, Concurrency: 1, FailureRate: -1},
	} {
		t.Run(name, func(t *testing.T) {
			o.Dir = t.TempDir()
			st, mb := run(t, o)
			m := readManifest(t, mb)
			loc := o.Location
			if loc == nil {
				loc = time.UTC
			}
			checkAgainstFiles(t, o.Dir, "webhook-server.log", loc, m)
			if got, want := int64(len(m.records)), st.Records; got != want {
				t.Fatalf("manifest records = %d, Stats.Records = %d", got, want)
			}
			if got, want := len(m.deliveries), o.Deliveries; got != want {
				t.Fatalf("delivery lines = %d, want %d", got, want)
			}
			checkDeliveries(t, o, m)
			f := features(m)
			switch {
			case o.FailureRate < 0:
				requireFeatures(t, f, "shape1", "shape2", "shape3", "shape3-pr", "no-prefix", "colorama", "tokens", "file-logger-name")
			case o.Legacy:
				requireFeatures(t, f, "level:STEP", "level:SUCCESS", "level:ERROR", "marker-no-type", "marker-failed",
					"marker-error-traceback", "traceback", "chained-traceback", "reset-only-line", "tokens", "escaped-user")
				if f["summary-SUCCESS"]+f["summary-FAILED"] != 0 {
					t.Fatal("legacy output has summary lines")
				}
			default:
				requireFeatures(t, f, "shape1", "shape2", "shape3", "shape3-pr", "no-prefix", "colorama", "level:DEBUG",
					"level:WARNING", "level:ERROR", "traceback", "chained-traceback", "reset-only-line", "whole-second",
					"escaped-user", "summary-SUCCESS", "summary-FAILED", "tokens", "non-ascii")
			}
			if name == "4.1.0" {
				requireFeatures(t, f, "level:CRITICAL")
				if st.Duplicates == 0 || !fileContains(t, o.Dir, "[DuplicateFilter: Last log `") {
					t.Fatal("no DuplicateFilter suffix generated")
				}
			}
		})
	}
}

func fileContains(t *testing.T, dir, s string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "webhook-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(s))
}

// checkDeliveries cross-checks the delivery lines with the records.
func checkDeliveries(t *testing.T, o logwriter.Options, m manifest) {
	t.Helper()
	type agg struct {
		summary *logwriter.Summary
		errors  bool
		failed  string // legacy failed step of the final error
	}
	byHook := map[string]*agg{}
	for _, r := range m.records {
		if r.HookID == "" {
			continue
		}
		a := byHook[r.HookID]
		if a == nil {
			a = &agg{}
			byHook[r.HookID] = a
		}
		if r.Summary != nil {
			a.summary = r.Summary
		}
		if r.Level == "ERROR" || r.Level == "CRITICAL" {
			a.errors = true
		}
		if r.TaskStatus == "failed" && r.TaskType != "webhook_routing" && r.TaskType != "ci_check" || (r.TaskID == "check_run" && r.TaskStatus == "failed") {
			a.failed = r.Step
		}
	}
	seen := map[string]bool{}
	failed := 0
	for _, d := range m.deliveries {
		if seen[d.HookID] {
			t.Fatalf("hook id %s delivered twice", d.HookID)
		}
		seen[d.HookID] = true
		a := byHook[d.HookID]
		if a == nil {
			t.Fatalf("delivery %s has no records", d.HookID)
		}
		if d.Failed {
			failed++
		}
		if a.errors && !d.HasErrors {
			t.Fatalf("delivery %s: ERROR records but has_errors false", d.HookID)
		}
		if o.Legacy {
			if d.Failed && d.FailingStep != a.failed {
				t.Fatalf("legacy delivery %s: failing step %q, markers say %q", d.HookID, d.FailingStep, a.failed)
			}
			continue
		}
		if a.summary == nil {
			t.Fatalf("delivery %s has no summary line", d.HookID)
		}
		if got, want := a.summary.Status == "FAILED", d.Failed; got != want {
			t.Fatalf("delivery %s: summary %s, failed=%v", d.HookID, a.summary.Status, want)
		}
		var failedStep string
		for _, s := range a.summary.Steps {
			if s.Status == "failed" {
				failedStep = s.Name
			}
		}
		if failedStep != d.FailingStep {
			t.Fatalf("delivery %s: failing step %q, summary says %q", d.HookID, d.FailingStep, failedStep)
		}
	}
	if o.FailureRate < 0 && failed > 0 {
		t.Fatalf("%d failed deliveries with FailureRate < 0", failed)
	}
	if o.FailureRate >= 0 && len(m.deliveries) >= 50 && failed == 0 {
		t.Fatal("no failed deliveries")
	}
}

func TestRotation(t *testing.T) {
	for _, method := range []logwriter.RotationMethod{logwriter.RotateRename, logwriter.RotateCopyTruncate} {
		t.Run(method.String(), func(t *testing.T) { testRotation(t, method) })
	}
}

func testRotation(t *testing.T, method logwriter.RotationMethod) {
	dir := t.TempDir()
	base := filepath.Join(dir, "webhook-server.log")
	run(t, logwriter.Options{Dir: dir, Seed: 1, Deliveries: 1})
	held, err := os.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldInfo, err := held.Stat()
	if err != nil {
		t.Fatal(err)
	}

	const maxBytes = 8 << 10
	st, mb := run(t, logwriter.Options{Dir: dir, Seed: 2, Deliveries: 60, MaxBytes: maxBytes, Backups: 3, Rotation: method})
	if st.Rotations < 5 {
		t.Fatalf("only %d rotations", st.Rotations)
	}
	if st.Writes != st.Records {
		t.Fatalf("%d write calls for %d records", st.Writes, st.Records)
	}
	for i := 0; i <= 3; i++ {
		name := base
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		// Python compares the byte position plus the record's length in
		// characters with maxBytes, so the character count stays below it.
		if n := utf8.RuneCount(b); n >= maxBytes {
			t.Fatalf("%s holds %d characters, max %d", name, n, maxBytes)
		}
	}
	if _, err := os.Stat(base + ".4"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s.4 exists beyond Backups=3 (err %v)", base, err)
	}
	// Every file is a distinct inode. Rename rotation moved the file open
	// before it away (and, after this many rotations, deleted it): the base
	// is a new inode. Copytruncate kept writing into the same inode.
	infos := map[string]os.FileInfo{}
	for _, n := range []string{"", ".1", ".2", ".3"} {
		fi, err := os.Stat(base + n)
		if err != nil {
			t.Fatal(err)
		}
		for other, ofi := range infos {
			if os.SameFile(fi, ofi) {
				t.Fatalf("%s and %s are the same file", n, other)
			}
		}
		wantSame := method == logwriter.RotateCopyTruncate && n == ""
		if os.SameFile(fi, heldInfo) != wantSame {
			t.Fatalf("%s: the pre-rotation file is webhook-server.log%s: %v, want %v", method, n, !wantSame, wantSame)
		}
		infos[n] = fi
	}
	// The manifest addresses the files that survived, whatever the method.
	m := readManifest(t, mb)
	last := m.records[len(m.records)-1].Generation
	if int64(last) != st.Rotations {
		t.Fatalf("last record of generation %d after %d rotations", last, st.Rotations)
	}
	var kept manifest
	for _, r := range m.records {
		if last-r.Generation <= 3 {
			kept.records = append(kept.records, r)
		}
	}
	checkAgainstFiles(t, dir, "webhook-server.log", time.UTC, kept)
}

// TestCopyTruncateKeepsDescriptor follows copytruncate rotations from a
// reader's side: a descriptor opened on the base file before them reads, at
// the end, what the base file holds now (the same inode, truncated and
// written again from offset 0), and each copy is a new inode holding exactly
// the records of its generation from offset 0.
func TestCopyTruncateKeepsDescriptor(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "webhook-server.log")
	run(t, logwriter.Options{Dir: dir, Seed: 5, Deliveries: 1})
	held, err := os.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	st, mb := run(t, logwriter.Options{Dir: dir, Seed: 6, Deliveries: 40, MaxBytes: 16 << 10, Backups: 1000,
		Rotation: logwriter.RotateCopyTruncate, BatchBytes: 4096})
	if st.Rotations < 3 {
		t.Fatalf("only %d rotations", st.Rotations)
	}
	got, err := io.ReadAll(held)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the held descriptor reads %d bytes, the base file holds %d", len(got), len(want))
	}
	m := readManifest(t, mb)
	// The oldest copy starts with the first run's records: check the later
	// generations, which start at offset 0 of their copy.
	var later manifest
	for _, r := range m.records {
		if r.Generation > 0 {
			later.records = append(later.records, r)
		}
	}
	checkAgainstFiles(t, dir, "webhook-server.log", time.UTC, later)
	for i := 1; i <= int(st.Rotations); i++ {
		fi, err := os.Stat(base + "." + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		hi, _ := held.Stat()
		if os.SameFile(fi, hi) {
			t.Fatalf("copy .%d is the base file's inode", i)
		}
	}
}

// TestRotationKeepsOldInode follows one rotation: the file that was
// written before it is then webhook-server.log.1.
func TestRotationKeepsOldInode(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "webhook-server.log")
	run(t, logwriter.Options{Dir: dir, Seed: 1, Deliveries: 2})
	before, err := os.Stat(base)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := run(t, logwriter.Options{Dir: dir, Seed: 3, Deliveries: 1, MaxBytes: before.Size() + 100})
	if st.Rotations != 1 {
		t.Fatalf("rotations = %d, want 1", st.Rotations)
	}
	rotated, err := os.Stat(base + ".1")
	if err != nil {
		t.Fatal(err)
	}
	now, err := os.Stat(base)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, rotated) || os.SameFile(before, now) {
		t.Fatal("rotation did not rename the old file to .1 and create a new inode")
	}
}

func TestOneWritePerRecord(t *testing.T) {
	st, _ := run(t, logwriter.Options{Dir: t.TempDir(), Seed: 4, Deliveries: 20, MaxBytes: 16 << 10})
	if st.Writes != st.Records {
		t.Fatalf("%d write calls for %d records", st.Writes, st.Records)
	}
	// Batched: fewer calls, the same bytes.
	o := logwriter.Options{Dir: t.TempDir(), Seed: 4, Deliveries: 20, BatchBytes: 4096}
	bst, _ := run(t, o)
	if bst.Writes >= bst.Records || bst.Bytes != st.Bytes {
		t.Fatalf("batched: %d writes for %d records, %d bytes vs %d", bst.Writes, bst.Records, bst.Bytes, st.Bytes)
	}
	// A rate makes every record its own write even with BatchBytes.
	o.Dir, o.Rate, o.Deliveries = t.TempDir(), 100000, 3
	rst, _ := run(t, o)
	if rst.Writes != rst.Records {
		t.Fatalf("with Rate: %d writes for %d records", rst.Writes, rst.Records)
	}
}

func TestCancel(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	var mf bytes.Buffer
	done := make(chan struct{})
	var (
		st  logwriter.Stats
		err error
	)
	go func() {
		defer close(done)
		st, err = logwriter.Run(ctx, logwriter.Options{Dir: dir, Rate: 2000, Manifest: &mf, Clock: fixedClock})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, serr := os.Stat(filepath.Join(dir, "webhook-server.log"))
		if serr == nil && fi.Size() > 4096 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	m := readManifest(t, mf.Bytes())
	if int64(len(m.records)) != st.Records || st.Records == 0 {
		t.Fatalf("%d manifest records, stats %d", len(m.records), st.Records)
	}
	checkAgainstFiles(t, dir, "webhook-server.log", time.UTC, m)
}

// TestLiveClock: with a Rate, timestamps never fall behind the clock.
func TestLiveClock(t *testing.T) {
	start := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	var calls int64
	clock := func() time.Time { calls++; return start.Add(time.Duration(calls) * time.Second) }
	st, mb := run(t, logwriter.Options{Dir: t.TempDir(), Rate: 100000, Deliveries: 2, Clock: clock})
	m := readManifest(t, mb)
	prev := ""
	for i, r := range m.records {
		ts, err := time.Parse(time.RFC3339Nano, r.UTC)
		if err != nil {
			t.Fatal(err)
		}
		if ts.Before(start.Add(time.Duration(i+1) * time.Second)) {
			t.Fatalf("record %d at %v is behind the clock", i, ts)
		}
		if r.UTC <= prev {
			t.Fatalf("timestamps not increasing: %s after %s", r.UTC, prev)
		}
		prev = r.UTC
	}
	if st.Records == 0 {
		t.Fatal("no records")
	}
}

func TestParseRotationMethod(t *testing.T) {
	for _, m := range []logwriter.RotationMethod{logwriter.RotateRename, logwriter.RotateCopyTruncate} {
		got, err := logwriter.ParseRotationMethod(m.String())
		if err != nil || got != m {
			t.Errorf("ParseRotationMethod(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
	if _, err := logwriter.ParseRotationMethod("create"); err == nil {
		t.Error("ParseRotationMethod(\"create\"): no error")
	}
}

func TestOptionsErrors(t *testing.T) {
	for name, o := range map[string]logwriter.Options{
		"no dir":          {},
		"failure rate":    {Dir: t.TempDir(), FailureRate: 1.5},
		"negative":        {Dir: t.TempDir(), Rate: -1},
		"rotation method": {Dir: t.TempDir(), Rotation: logwriter.RotateCopyTruncate + 1},
	} {
		if _, err := logwriter.Run(t.Context(), o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	for name, o := range map[string]logwriter.Options{
		"one-write-per-record": {Deliveries: 2000},
		"batch-64KiB":          {Deliveries: 2000, BatchBytes: 64 << 10},
		"batch-64KiB-rotating": {Deliveries: 2000, BatchBytes: 64 << 10, MaxBytes: 10 << 20},
	} {
		b.Run(name, func(b *testing.B) {
			o.Clock = fixedClock
			var records, bytes int64
			for b.Loop() {
				o.Dir = b.TempDir()
				st, err := logwriter.Run(b.Context(), o)
				if err != nil {
					b.Fatal(err)
				}
				records += st.Records
				bytes += st.Bytes
			}
			b.SetBytes(bytes / int64(b.N))
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// TestSampleLogsUpToDate regenerates examples/logs with the options of the
// commands in examples/logs/README.md and compares them byte for byte.
func TestSampleLogsUpToDate(t *testing.T) {
	jerusalem, err := time.LoadLocation("Asia/Jerusalem")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	at := func(s string) func() time.Time {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return func() time.Time { return ts }
	}
	for sub, o := range map[string]logwriter.Options{
		".": {Seed: 2026, Deliveries: 85, MaxBytes: 204800, BatchBytes: 64 << 10,
			Clock: at("2026-07-31T09:12:04.517203Z")},
		"legacy-4.0": {Seed: 401, Deliveries: 40, Legacy: true, Location: jerusalem, BatchBytes: 64 << 10,
			Clock: at("2025-12-01T14:03:11.218006Z")},
		"jsonl-4.1": {Seed: 2027, Deliveries: 16, JSONL: logwriter.JSONLCurrent, BatchBytes: 64 << 10,
			Clock: at("2026-07-31T23:59:52.204118Z")},
		"jsonl-legacy": {Seed: 2602, Deliveries: 8, JSONL: logwriter.JSONLLegacy, BatchBytes: 64 << 10,
			Clock: at("2026-02-10T09:00:00.318305Z")},
	} {
		o.Dir = t.TempDir()
		_, mb := run(t, o)
		checkAgainstFiles(t, o.Dir, "webhook-server.log", o.Location, readManifest(t, mb))
		names, err := filepath.Glob(filepath.Join(o.Dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir(filepath.Join("..", "logs", sub))
		if err != nil {
			t.Fatal(err)
		}
		committed := slices.DeleteFunc(ents, func(e os.DirEntry) bool { return e.IsDir() || strings.HasSuffix(e.Name(), ".md") })
		if len(committed) != len(names) {
			t.Fatalf("examples/logs/%s holds %d files, the command writes %d", sub, len(committed), len(names))
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			got, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			committed := filepath.Join("..", "logs", sub, filepath.Base(n))
			want, err := os.ReadFile(committed)
			if err != nil {
				t.Fatalf("sample log missing: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s is not what examples/logs/README.md's command generates", committed)
			}
		}
	}
}

// TestObservers: OnRecord and OnDelivery see the manifest's lines as
// values, in order, each once its record is in the file.
func TestObservers(t *testing.T) {
	for name, o := range map[string]logwriter.Options{
		"one-write-per-record": {Seed: 13, Deliveries: 30},
		"batched":              {Seed: 13, Deliveries: 30, BatchBytes: 4096},
		"live":                 {Seed: 13, Deliveries: 5, Rate: 100000},
	} {
		t.Run(name, func(t *testing.T) {
			o.Dir = t.TempDir()
			var (
				recs []logwriter.ManifestRecord
				dels []logwriter.ManifestDelivery
			)
			o.OnRecord = func(r logwriter.ManifestRecord) {
				fi, err := os.Stat(filepath.Join(o.Dir, "webhook-server.log"))
				if err != nil {
					t.Fatal(err)
				}
				if end := r.Offset + r.Length; fi.Size() < end {
					t.Fatalf("record at %d..%d observed while the file holds %d bytes", r.Offset, end, fi.Size())
				}
				recs = append(recs, r)
			}
			o.OnDelivery = func(d logwriter.ManifestDelivery) { dels = append(dels, d) }
			_, mb := run(t, o)
			m := readManifest(t, mb)
			if diff := cmp.Diff(m.records, recs); diff != "" {
				t.Fatalf("OnRecord differs from the manifest (-manifest +observed):\n%s", diff)
			}
			if diff := cmp.Diff(m.deliveries, dels); diff != "" {
				t.Fatalf("OnDelivery differs from the manifest (-manifest +observed):\n%s", diff)
			}
			if len(recs) == 0 || len(dels) != o.Deliveries {
				t.Fatalf("%d records, %d deliveries observed", len(recs), len(dels))
			}
		})
	}
}
