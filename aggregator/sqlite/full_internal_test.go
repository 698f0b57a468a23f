package sqlite

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/httpapi"
	"github.com/hooktail/hooktail/aggregator/ingest"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// protoBatch is n wire entries of file fp from offset first on, 20 per
// hook_id, a second apart.
func protoBatch(fp uint64, first, n int) *hooktailv1.PushRequest {
	t0 := time.Date(2026, 7, 31, 10, 0, 0, 0, time.UTC)
	req := &hooktailv1.PushRequest{AgentId: "agent-1", BatchId: uint64(first)}
	for i := first; i < first+n; i++ {
		ts := t0.Add(time.Duration(i) * time.Second)
		req.Entries = append(req.Entries, &hooktailv1.Entry{
			Source: "webhook-server", Fingerprint: fp, Offset: int64(i) * 200, File: "/data/logs/webhook-server.log",
			TimestampUs: ts.UnixMicro(), TimestampRaw: ts.Format(time.RFC3339Nano), Level: "INFO",
			HookId:  fmt.Sprintf("hook-%d", i/20),
			Message: fmt.Sprintf("Running step %d of the delivery: %s", i, strings.Repeat("x", 120)),
		})
	}
	return req
}

// TestDiskFullThroughGRPC simulates a full disk with max_page_count on the
// writer: a push is refused with a retryable status that says the disk is
// full, stores nothing of its batch, reads keep answering, and once there
// is room again the same push stores every entry once.
func TestDiskFullThroughGRPC(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "hooktail.db"), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	ingest.New(ingest.Options{Store: s, TrustedNetworks: loopback, Logger: quiet}).Register(g)
	go g.Serve(lis)
	defer g.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := hooktailv1.NewIngestClient(conn)
	api, err := httpapi.New(httpapi.Options{Store: s, TrustedNetworks: loopback, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	getTotal := func(query string) (int, int64) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/logs/api/entries?"+query, nil)
		r.RemoteAddr = "127.0.0.1:1234"
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		var body struct {
			Total int64 `json:"total"`
		}
		if w.Code == http.StatusOK {
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("GET entries: %v: %s", err, w.Body)
			}
		}
		return w.Code, body.Total
	}

	first := protoBatch(1, 0, 500)
	if resp, err := client.Push(t.Context(), first); err != nil || resp.GetStored() != 500 {
		t.Fatalf("Push(first) = %v, %v; want 500 stored", resp, err)
	}
	// The disk fills up: the database may not grow by one more page.
	var pages int64
	if err := s.wdb.QueryRowContext(t.Context(), "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.ExecContext(t.Context(), fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}

	second := protoBatch(1, 500, 2000)
	_, err = client.Push(t.Context(), second)
	st, _ := status.FromError(err)
	if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "disk is full") {
		t.Fatalf("Push() on a full disk = %v, want Unavailable saying the disk is full", err)
	}
	// Nothing of the batch is stored, and reads answer.
	if code, total := getTotal("limit=1"); code != http.StatusOK || total != 500 {
		t.Errorf("GET /logs/api/entries on a full disk: status %d, total %d; want 200 and the first 500", code, total)
	}
	if code, total := getTotal("hook_id=hook-30"); code != http.StatusOK || total != 0 {
		t.Errorf("GET /logs/api/entries?hook_id=hook-30 on a full disk: status %d, total %d; want 200 and nothing", code, total)
	}
	if _, err := s.Delivery(t.Context(), "hook-0"); err != nil {
		t.Errorf("Delivery(hook-0) on a full disk: %v", err)
	}
	if _, err := s.Delivery(t.Context(), "hook-30"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Errorf("Delivery(hook-30) on a full disk: %v, want not found: no part of the batch stored", err)
	}
	// Still full: still refused, the same way.
	if _, err := client.Push(t.Context(), second); status.Code(err) != codes.Unavailable {
		t.Fatalf("second Push() on a full disk = %v, want Unavailable", err)
	}

	// Space is back: the agent's retry stores the batch, once.
	if _, err := s.wdb.ExecContext(t.Context(), "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	resp, err := client.Push(t.Context(), second)
	if err != nil || resp.GetStored() != 2000 || resp.GetDuplicates() != 0 {
		t.Fatalf("Push() once space is back = %v, %v; want 2000 stored, no duplicates", resp, err)
	}
	if resp, err := client.Push(t.Context(), second); err != nil || resp.GetDuplicates() != 2000 {
		t.Fatalf("Push() again = %v, %v; want 2000 duplicates", resp, err)
	}
	if code, total := getTotal("limit=1"); code != http.StatusOK || total != 2500 {
		t.Errorf("GET /logs/api/entries after recovery: status %d, total %d; want 200 and 2500", code, total)
	}
	d, err := s.Delivery(t.Context(), "hook-30")
	if err != nil || d.EntryCount != 20 {
		t.Errorf("Delivery(hook-30) after recovery = %+v, %v; want its 20 entries counted once", d, err)
	}
}

// TestStorageError checks how SQLite's errors are classified.
func TestStorageError(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "hooktail.db"), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.wdb.ExecContext(t.Context(), "SELECT * FROM no_such_table")
	if err == nil {
		t.Fatal("query of a missing table succeeded")
	}
	if got := storageError(err); errors.Is(got, aggregator.ErrStorageFull) || errors.Is(got, aggregator.ErrStorageIO) {
		t.Errorf("storageError(%v) = %v, want neither full nor I/O", err, got)
	}
	plain := errors.New("x")
	if got := storageError(plain); got != plain {
		t.Errorf("storageError(non-sqlite error) = %v, want it unchanged", got)
	}
}
