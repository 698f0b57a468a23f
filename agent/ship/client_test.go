package ship_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/ship"
	"github.com/hooktail/hooktail/plugins"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// fakeIngest is an IngestServer that records every push (request and
// metadata) and answers with PushFunc, or acks everything when it is nil.
type fakeIngest struct {
	hooktailv1.UnimplementedIngestServer
	PushFunc func(ctx context.Context, n int, req *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error)

	mu   sync.Mutex
	reqs []*hooktailv1.PushRequest
	mds  []metadata.MD
}

func (f *fakeIngest) Push(ctx context.Context, req *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mds = append(f.mds, md)
	n := len(f.reqs)
	f.mu.Unlock()
	if f.PushFunc != nil {
		return f.PushFunc(ctx, n, req)
	}
	return &hooktailv1.PushResponse{BatchId: req.GetBatchId(), Stored: uint32(len(req.GetEntries()))}, nil
}

func (f *fakeIngest) pushes() ([]*hooktailv1.PushRequest, []metadata.MD) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*hooktailv1.PushRequest(nil), f.reqs...), append([]metadata.MD(nil), f.mds...)
}

// serve runs f on a loopback port and returns its address.
func serve(t *testing.T, f *fakeIngest) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	hooktailv1.RegisterIngestServer(g, f)
	done := make(chan error, 1)
	go func() { done <- g.Serve(lis) }()
	t.Cleanup(func() {
		g.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	})
	return lis.Addr().String()
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newClient(t *testing.T, opts ship.Options) *ship.Client {
	t.Helper()
	if opts.BackoffMin == 0 {
		opts.BackoffMin = time.Millisecond
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 2 * time.Millisecond
	}
	opts.Logger = quietLogger()
	c, err := ship.New(opts)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testEntries() []agent.Entry {
	spend := int64(12)
	return []agent.Entry{
		{
			Source: "webhook-server", File: agent.FileID{Dev: 1, Ino: 2, Fingerprint: 3}, Path: "/logs/a.log", Offset: 0, End: 50,
			Parsed: plugins.Entry{TimestampUS: 1785492902101877, Level: "INFO", Message: "first", HookID: "h1", PRNumber: 9, TokenSpend: &spend},
		},
		{
			Source: "webhook-server", File: agent.FileID{Dev: 1, Ino: 2, Fingerprint: 3}, Path: "/logs/a.log", Offset: 50, End: 120,
			Parsed: plugins.Entry{Level: "ERROR", Message: "second\ntraceback", ParseError: true},
		},
	}
}

func wantWire() []*hooktailv1.Entry {
	return []*hooktailv1.Entry{
		{Source: "webhook-server", Fingerprint: 3, File: "/logs/a.log", Offset: 0, TimestampUs: 1785492902101877, Level: "INFO", Message: "first", HookId: "h1", PrNumber: proto.Int64(9), TokenSpend: proto.Int64(12)},
		{Source: "webhook-server", Fingerprint: 3, File: "/logs/a.log", Offset: 50, Level: "ERROR", Message: "second\ntraceback", ParseError: true},
	}
}

func TestNewNoAddress(t *testing.T) {
	t.Parallel()
	if _, err := ship.New(ship.Options{}); err == nil {
		t.Fatal("New() with no address = nil error, want one")
	}
}

func TestPushAck(t *testing.T) {
	t.Parallel()
	f := &fakeIngest{PushFunc: func(_ context.Context, _ int, req *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
		return &hooktailv1.PushResponse{BatchId: req.GetBatchId(), Stored: 1, Duplicates: 1}, nil
	}}
	c := newClient(t, ship.Options{Addresses: []string{serve(t, f)}, AgentID: "agent-7", Token: "tok3n"})
	ack, err := c.Push(t.Context(), 42, testEntries())
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	if diff := cmp.Diff(ship.Ack{Stored: 1, Duplicates: 1, Attempts: 1}, ack); diff != "" {
		t.Errorf("Push() ack mismatch (-want +got):\n%s", diff)
	}
	reqs, mds := f.pushes()
	want := &hooktailv1.PushRequest{AgentId: "agent-7", BatchId: 42, Entries: wantWire()}
	if diff := cmp.Diff([]*hooktailv1.PushRequest{want}, reqs, protocmp.Transform()); diff != "" {
		t.Errorf("pushed requests mismatch (-want +got):\n%s", diff)
	}
	if got, want := mds[0].Get("authorization"), []string{"Bearer tok3n"}; !cmp.Equal(got, want) {
		t.Errorf("authorization metadata = %q, want %q", got, want)
	}
}

func TestPushNoToken(t *testing.T) {
	t.Parallel()
	f := &fakeIngest{}
	c := newClient(t, ship.Options{Addresses: []string{serve(t, f)}})
	if _, err := c.Push(t.Context(), 1, testEntries()); err != nil {
		t.Fatalf("Push() = %v", err)
	}
	_, mds := f.pushes()
	if got := mds[0].Get("authorization"); len(got) != 0 {
		t.Errorf("authorization metadata = %q, want none", got)
	}
}

func TestPushRetriesUntilAck(t *testing.T) {
	t.Parallel()
	const fails = 4
	f := &fakeIngest{PushFunc: func(_ context.Context, n int, req *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
		switch {
		case n <= fails/2:
			return nil, status.Error(codes.Unavailable, "store unavailable")
		case n <= fails:
			// Not fixed by waiting, but the batch is never dropped.
			return nil, status.Error(codes.PermissionDenied, "not trusted")
		}
		return &hooktailv1.PushResponse{BatchId: req.GetBatchId(), Stored: uint32(len(req.GetEntries()))}, nil
	}}
	c := newClient(t, ship.Options{Addresses: []string{serve(t, f)}, AgentID: "a"})
	ack, err := c.Push(t.Context(), 5, testEntries())
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	if diff := cmp.Diff(ship.Ack{Stored: 2, Attempts: fails + 1}, ack); diff != "" {
		t.Errorf("Push() ack mismatch (-want +got):\n%s", diff)
	}
	reqs, _ := f.pushes()
	if got, want := len(reqs), fails+1; got != want {
		t.Fatalf("server saw %d pushes, want %d", got, want)
	}
	want := &hooktailv1.PushRequest{AgentId: "a", BatchId: 5, Entries: wantWire()}
	for i, r := range reqs {
		if diff := cmp.Diff(want, r, protocmp.Transform()); diff != "" {
			t.Errorf("push %d mismatch (-want +got):\n%s", i+1, diff)
		}
	}
}

func TestPushFailover(t *testing.T) {
	t.Parallel()
	f := &fakeIngest{}
	c := newClient(t, ship.Options{Addresses: []string{closedAddr(t), serve(t, f)}})
	ack, err := c.Push(t.Context(), 1, testEntries())
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	if diff := cmp.Diff(ship.Ack{Stored: 2, Attempts: 2}, ack); diff != "" {
		t.Errorf("Push() ack mismatch (-want +got):\n%s", diff)
	}
	if reqs, _ := f.pushes(); len(reqs) != 1 {
		t.Errorf("second address saw %d pushes, want 1", len(reqs))
	}
}

// TestPushFailoverWrapsAround checks that a failing second address sends
// the client back to the first one.
func TestPushFailoverWrapsAround(t *testing.T) {
	t.Parallel()
	first := &fakeIngest{PushFunc: func(_ context.Context, n int, _ *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
		if n == 1 {
			return nil, status.Error(codes.Unavailable, "busy")
		}
		return &hooktailv1.PushResponse{Stored: 7}, nil
	}}
	second := &fakeIngest{PushFunc: func(context.Context, int, *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
		return nil, status.Error(codes.Internal, "broken")
	}}
	c := newClient(t, ship.Options{Addresses: []string{serve(t, first), serve(t, second)}})
	ack, err := c.Push(t.Context(), 1, testEntries())
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	if diff := cmp.Diff(ship.Ack{Stored: 7, Attempts: 3}, ack); diff != "" {
		t.Errorf("Push() ack mismatch (-want +got):\n%s", diff)
	}
	r1, _ := first.pushes()
	r2, _ := second.pushes()
	if len(r1) != 2 || len(r2) != 1 {
		t.Errorf("pushes per address = %d, %d; want 2, 1", len(r1), len(r2))
	}
}

// TestPushCancelDuringBackoff cancels the context while the client waits
// (an hour) before its next attempt: Push returns at once with ctx's error.
func TestPushCancelDuringBackoff(t *testing.T) {
	t.Parallel()
	failed := make(chan struct{}, 1)
	f := &fakeIngest{PushFunc: func(context.Context, int, *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
		defer func() {
			select {
			case failed <- struct{}{}:
			default:
			}
		}()
		return nil, status.Error(codes.Unavailable, "down")
	}}
	c := newClient(t, ship.Options{Addresses: []string{serve(t, f)}, BackoffMin: time.Hour, BackoffMax: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Push(ctx, 1, testEntries())
		done <- err
	}()
	<-failed
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Push() = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Push() did not return after its context was cancelled")
	}
	if reqs, _ := f.pushes(); len(reqs) != 1 {
		t.Errorf("server saw %d pushes, want 1", len(reqs))
	}
}

// TestPushCancelDuringCall cancels the context while the server holds the
// push: Push returns ctx's error and does not retry.
func TestPushCancelDuringCall(t *testing.T) {
	t.Parallel()
	inCall := make(chan struct{})
	f := &fakeIngest{PushFunc: func(ctx context.Context, _ int, _ *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
		close(inCall)
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}}
	c := newClient(t, ship.Options{Addresses: []string{serve(t, f)}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Push(ctx, 1, testEntries())
		done <- err
	}()
	<-inCall
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Push() = %v, want context.Canceled", err)
	}
}

func TestPushContextAlreadyDone(t *testing.T) {
	t.Parallel()
	f := &fakeIngest{}
	c := newClient(t, ship.Options{Addresses: []string{serve(t, f)}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Push(ctx, 1, testEntries()); !errors.Is(err, context.Canceled) {
		t.Errorf("Push() = %v, want context.Canceled", err)
	}
}

// TestPushAttemptTimeout checks that Timeout bounds one attempt: a server
// that never answers the first push does not hold the batch forever.
func TestPushAttemptTimeout(t *testing.T) {
	t.Parallel()
	f := &fakeIngest{PushFunc: func(ctx context.Context, n int, _ *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
		if n == 1 {
			<-ctx.Done()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return &hooktailv1.PushResponse{Stored: 2}, nil
	}}
	c := newClient(t, ship.Options{Addresses: []string{serve(t, f)}, Timeout: 50 * time.Millisecond})
	ack, err := c.Push(t.Context(), 1, testEntries())
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	// The first attempt timed out and a later one succeeded; on a loaded
	// machine a later attempt may time out too, which is the same rule.
	if ack.Attempts < 2 {
		t.Errorf("Attempts = %d, want at least 2", ack.Attempts)
	}
}

// TestPushConcurrent pushes from several goroutines through one client.
func TestPushConcurrent(t *testing.T) {
	t.Parallel()
	f := &fakeIngest{}
	c := newClient(t, ship.Options{Addresses: []string{serve(t, f)}})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := c.Push(t.Context(), uint64(i), testEntries()); err != nil {
				t.Errorf("Push(%d) = %v", i, err)
			}
		})
	}
	wg.Wait()
	if reqs, _ := f.pushes(); len(reqs) != 8 {
		t.Errorf("server saw %d pushes, want 8", len(reqs))
	}
}

// TestPushRejected checks that an InvalidArgument naming an entry in its
// trailer ends the push at once with a RejectedError, and that one without
// a usable index is retried like any other failure.
func TestPushRejected(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		trailer   string
		wantIndex int // -1: retried, then acked
	}{
		"named":        {trailer: "1", wantIndex: 1},
		"no trailer":   {trailer: "", wantIndex: -1},
		"out of range": {trailer: "7", wantIndex: -1},
		"not a number": {trailer: "x", wantIndex: -1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := &fakeIngest{PushFunc: func(ctx context.Context, n int, req *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
				if n > 1 {
					return &hooktailv1.PushResponse{BatchId: req.GetBatchId()}, nil
				}
				if tc.trailer != "" {
					grpc.SetTrailer(ctx, metadata.Pairs(hooktailv1.InvalidEntryTrailer, tc.trailer))
				}
				return nil, status.Error(codes.InvalidArgument, "entry can never be stored")
			}}
			c := newClient(t, ship.Options{Addresses: []string{serve(t, f)}, BackoffMin: time.Millisecond})
			entries := append(testEntries(), testEntries()...)
			_, err := c.Push(t.Context(), 1, entries)
			var rej *ship.RejectedError
			switch {
			case tc.wantIndex >= 0 && (!errors.As(err, &rej) || rej.Index != tc.wantIndex):
				t.Errorf("Push() = %v, want a RejectedError for entry %d", err, tc.wantIndex)
			case tc.wantIndex < 0 && err != nil:
				t.Errorf("Push() = %v, want a retry and an ack", err)
			}
		})
	}
}

// TestStats checks the counters over retries, a failover and a rejection.
func TestStats(t *testing.T) {
	t.Parallel()
	first := &fakeIngest{PushFunc: func(_ context.Context, n int, req *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
		switch n {
		case 1:
			return nil, status.Error(codes.Unavailable, "busy")
		case 3:
			return nil, status.Error(codes.InvalidArgument, "never")
		}
		return &hooktailv1.PushResponse{BatchId: req.GetBatchId()}, nil
	}}
	second := &fakeIngest{PushFunc: func(context.Context, int, *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
		return nil, status.Error(codes.Unauthenticated, "who are you")
	}}
	addr1, addr2 := serve(t, first), serve(t, second)
	c := newClient(t, ship.Options{Addresses: []string{addr1, addr2}})
	if got := c.Stats(); got.LastContact != nil || got.Attempts != 0 {
		t.Fatalf("Stats() before any push = %+v", got)
	}
	// first: unavailable; second: unauthenticated; first: acked.
	if _, err := c.Push(t.Context(), 1, testEntries()); err != nil {
		t.Fatalf("Push(1) = %v", err)
	}
	// first: invalid argument without a trailer (retried); second:
	// unauthenticated; first: acked.
	if _, err := c.Push(t.Context(), 2, testEntries()); err != nil {
		t.Fatalf("Push(2) = %v", err)
	}
	got := c.Stats()
	var wantErrors [len(got.Errors)]int64
	wantErrors[ship.ErrorUnavailable] = 1
	wantErrors[ship.ErrorAuth] = 2
	wantErrors[ship.ErrorRejected] = 1
	want := ship.Stats{Pushes: 2, Attempts: 6, Retries: 4, RetriedBatches: 2, Failovers: 4, Errors: wantErrors}
	last := got.LastContact
	got.LastContact = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
	if last == nil || last.Err != nil || last.Address != addr1 || last.At.IsZero() {
		t.Errorf("LastContact = %+v, want a success at %s", last, addr1)
	}
	for _, k := range ship.ErrorKinds() {
		if k.String() == "unknown" {
			t.Errorf("error kind %d has no label", k)
		}
	}
}

// TestCheck checks the health check: an empty batch, one attempt per
// address, the outcome recorded as the last contact.
func TestCheck(t *testing.T) {
	t.Parallel()
	f := &fakeIngest{}
	dead := closedAddr(t)
	c := newClient(t, ship.Options{Addresses: []string{dead, serve(t, f)}, AgentID: "a1"})
	if err := c.Check(t.Context()); err != nil {
		t.Fatalf("Check() = %v", err)
	}
	reqs, _ := f.pushes()
	if len(reqs) != 1 || len(reqs[0].GetEntries()) != 0 || reqs[0].GetBatchId() != 0 || reqs[0].GetAgentId() != "a1" {
		t.Fatalf("Check pushed %v, want one empty batch 0 of agent a1", reqs)
	}
	s := c.Stats()
	if s.Checks != 1 || s.Errors[ship.ErrorUnavailable] != 1 || s.LastContact == nil || s.LastContact.Err != nil {
		t.Errorf("Stats() after Check = %+v, want 1 check, 1 unavailable error and a successful last contact", s)
	}

	down := newClient(t, ship.Options{Addresses: []string{dead}})
	if err := down.Check(t.Context()); err == nil || !strings.Contains(err.Error(), dead) {
		t.Errorf("Check() of a closed address = %v, want an error naming it", err)
	}
	if lc := down.Stats().LastContact; lc == nil || lc.Err == nil || lc.Address != dead {
		t.Errorf("LastContact = %+v, want the failure at %s", lc, dead)
	}
}
