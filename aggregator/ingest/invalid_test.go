package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/ingest"
	"github.com/hooktail/hooktail/aggregator/sqlite"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// TestPushInvalidEntry checks that a store error retrying cannot fix is a
// non-retryable InvalidArgument naming the entry, without the store's text.
func TestPushInvalidEntry(t *testing.T) {
	t.Parallel()
	const secret = "json: error calling MarshalJSON for type time.Time: Time.MarshalJSON: year outside of range [0,9999]"
	testCases := map[string]struct {
		err       error
		wantIndex string // the trailer; "" for none
	}{
		"typed, with index":   {err: fmt.Errorf("ingest: %w", &aggregator.InvalidEntryError{Index: 1, Err: errors.New(secret)}), wantIndex: "1"},
		"typed, index -1":     {err: &aggregator.InvalidEntryError{Index: -1, Err: errors.New(secret)}},
		"typed, index beyond": {err: &aggregator.InvalidEntryError{Index: 7, Err: errors.New(secret)}},
		"sentinel":            {err: fmt.Errorf("%s: %w", secret, aggregator.ErrInvalidEntry)},
	}
	for name, tc := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := &fakeIngester{IngestFunc: func(context.Context, *aggregator.Batch) (aggregator.IngestResult, error) {
				return aggregator.IngestResult{}, tc.err
			}}
			srv := ingest.New(ingest.Options{Store: store, Tokens: []string{"tok"}, Logger: quietLogger()})
			req := &hooktailv1.PushRequest{Entries: []*hooktailv1.Entry{{Offset: 1}, {Offset: 2}}}

			// Direct call (no stream: no trailer).
			_, err := srv.Push(metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer tok")), req)
			checkInvalid(t, err, tc.wantIndex)

			// Over gRPC, with the trailer.
			client := startBufconn(t, srv)
			var trailer metadata.MD
			_, err = client.Push(metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer tok"), req, grpc.Trailer(&trailer))
			checkInvalid(t, err, tc.wantIndex)
			got := strings.Join(trailer.Get(ingest.InvalidEntryTrailer), ",")
			if got != tc.wantIndex {
				t.Errorf("trailer %s = %q, want %q", ingest.InvalidEntryTrailer, got, tc.wantIndex)
			}
		})
	}
}

func checkInvalid(t *testing.T, err error, index string) {
	t.Helper()
	st, _ := status.FromError(err)
	if got, want := st.Code(), codes.InvalidArgument; got != want {
		t.Fatalf("Push() code = %v (%v), want %v", got, err, want)
	}
	msg := st.Message()
	if strings.Contains(msg, "MarshalJSON") || strings.Contains(msg, "ingest:") {
		t.Errorf("Push() message %q leaks the store's error", msg)
	}
	if !strings.Contains(msg, "will not help") {
		t.Errorf("Push() message %q does not say that retrying is useless", msg)
	}
	if index != "" && !strings.Contains(msg, "entry "+index+" ") {
		t.Errorf("Push() message %q does not name entry %s", msg, index)
	}
}

// TestPushOutOfRangeTimes is the regression test of a batch that stalled
// ingest forever: a timestamp that converts to year -1 (or past 9999) made
// the SQLite store fail to encode the delivery, and the server answered
// Unavailable, so the agent retried the batch forever. Such a time is now
// unknown; the batch is stored and the raw timestamp kept.
func TestPushOutOfRangeTimes(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hooktail.db"), sqlite.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := ingest.New(ingest.Options{Store: store, Tokens: []string{"tok"}, Logger: quietLogger()})
	client := startBufconn(t, srv)
	yearMinus1 := time.Date(0, 1, 1, 0, 0, 0, 5e8, time.FixedZone("", 3600)).UnixMicro()
	year10000 := time.Date(10000, 6, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	req := &hooktailv1.PushRequest{AgentId: "a", BatchId: 1, Entries: []*hooktailv1.Entry{
		{Source: "s", Fingerprint: 1, Offset: 0, File: "/f", TimestampUs: yearMinus1,
			TimestampRaw: "0000-01-01T00:00:00.5+01:00", Level: "INFO", HookId: "h1", Message: "Processing webhook"},
		{Source: "s", Fingerprint: 1, Offset: 100, File: "/f", TimestampUs: us(), Level: "ERROR", HookId: "h1",
			Repository: "r", Message: "boom"},
		{Source: "s", Fingerprint: 1, Offset: 200, File: "/f", TimestampUs: year10000, HookId: "h1",
			Kind: hooktailv1.Kind_KIND_DELIVERY_SUMMARY, Completion: &hooktailv1.Completion{
				Status: "failed", StartedAtUs: yearMinus1, CompletedAtUs: year10000,
				Steps: []*hooktailv1.Step{{Name: "clone", Status: "failed", StartedAtUs: year10000, DetailsJson: "{oops"}},
			}},
	}}
	resp, err := client.Push(metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer tok"), req)
	if err != nil {
		t.Fatalf("Push() = %v, want the batch stored", err)
	}
	if got, want := resp.GetStored(), uint32(3); got != want {
		t.Errorf("stored %d, want %d", got, want)
	}
	page, err := store.Entries(t.Context(), aggregator.EntryQuery{Filter: aggregator.EntryFilter{HookID: "h1"}, Limit: 10, Order: aggregator.OldestFirst})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 2 {
		t.Fatalf("%d entries, want 2", len(page.Entries))
	}
	var first *aggregator.Entry
	for i := range page.Entries {
		if page.Entries[i].Offset == 0 {
			first = &page.Entries[i]
		}
	}
	if first == nil || !first.Timestamp.IsZero() || first.TimestampRaw != "0000-01-01T00:00:00.5+01:00" {
		t.Errorf("entry at offset 0 = %+v, want an unknown time and the raw timestamp kept", first)
	}
	d, err := store.Delivery(t.Context(), "h1")
	if err != nil {
		t.Fatalf("Delivery() = %v", err)
	}
	if d.State != aggregator.StateFailed || len(d.Steps) != 1 || string(d.Steps[0].Details) != `"{oops"` {
		t.Errorf("delivery state=%s steps=%+v, want failed with the step's raw details", d.State, d.Steps)
	}
}

// TestRecoverUnary checks that a panicking handler answers Internal, logs
// the panic with its stack, and leaves the server serving.
func TestRecoverUnary(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	calls := 0
	store := &fakeIngester{IngestFunc: func(_ context.Context, b *aggregator.Batch) (aggregator.IngestResult, error) {
		calls++
		if calls == 1 {
			panic("BUG: secret panic text")
		}
		return aggregator.IngestResult{Stored: len(b.Entries)}, nil
	}}
	srv := ingest.New(ingest.Options{Store: store, Tokens: []string{"tok"}, Logger: quietLogger()})
	client := startBufconn(t, srv, grpc.ChainUnaryInterceptor(ingest.RecoverUnary(logger)))
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer tok")

	_, err := client.Push(ctx, oneEntry())
	st, _ := status.FromError(err)
	if got, want := st.Code(), codes.Internal; got != want {
		t.Fatalf("Push() code = %v (%v), want %v", got, err, want)
	}
	if strings.Contains(st.Message(), "secret") {
		t.Errorf("Push() message %q carries the panic text", st.Message())
	}
	out := logs.String()
	// The stack names the panicking function's file.
	for _, want := range []string{`"msg":"panic serving grpc call"`, "BUG: secret panic text", hooktailv1.Ingest_Push_FullMethodName, "invalid_test.go"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if _, err := client.Push(ctx, oneEntry()); err != nil {
		t.Fatalf("Push() after a panic = %v, want the server still serving", err)
	}
}

// syncBuffer is an io.Writer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
