package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/ingest"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// fakeIngester records every batch; IngestFunc, when set, answers instead
// of the default (everything stored).
type fakeIngester struct {
	IngestFunc func(ctx context.Context, b *aggregator.Batch) (aggregator.IngestResult, error)

	mu      sync.Mutex
	batches []*aggregator.Batch
}

var _ ingest.Ingester = (*fakeIngester)(nil)

func (f *fakeIngester) Ingest(ctx context.Context, b *aggregator.Batch) (aggregator.IngestResult, error) {
	f.mu.Lock()
	f.batches = append(f.batches, b)
	f.mu.Unlock()
	if f.IngestFunc != nil {
		return f.IngestFunc(ctx, b)
	}
	return aggregator.IngestResult{Stored: len(b.Entries)}, nil
}

func (f *fakeIngester) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.batches)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// ctxFrom returns an incoming-call context with the given peer address
// (nil: none) and authorization values.
func ctxFrom(t *testing.T, addr net.Addr, auth ...string) context.Context {
	t.Helper()
	ctx := t.Context()
	if addr != nil {
		ctx = peer.NewContext(ctx, &peer.Peer{Addr: addr})
	}
	if len(auth) > 0 {
		md := metadata.MD{}
		for _, a := range auth {
			md.Append("authorization", a)
		}
		ctx = metadata.NewIncomingContext(ctx, md)
	}
	return ctx
}

func tcpAddr(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

// strAddr is a net.Addr of no known type, judged by its String form.
type strAddr string

func (a strAddr) Network() string { return "custom" }
func (a strAddr) String() string  { return string(a) }

func oneEntry() *hooktailv1.PushRequest {
	return &hooktailv1.PushRequest{AgentId: "agent-1", BatchId: 7, Entries: []*hooktailv1.Entry{{Source: "s", Offset: 1, Message: "m"}}}
}

func TestPushAuthWithTokens(t *testing.T) {
	t.Parallel()
	outside := tcpAddr("203.0.113.9:5000")
	testCases := map[string]struct {
		ctx  func(t *testing.T) context.Context
		want codes.Code
	}{
		"no metadata":          {ctx: func(t *testing.T) context.Context { return ctxFrom(t, outside) }, want: codes.Unauthenticated},
		"no metadata, trusted": {ctx: func(t *testing.T) context.Context { return ctxFrom(t, tcpAddr("127.0.0.1:1")) }, want: codes.Unauthenticated},
		"empty bearer":         {ctx: func(t *testing.T) context.Context { return ctxFrom(t, outside, "Bearer ") }, want: codes.Unauthenticated},
		"wrong token":          {ctx: func(t *testing.T) context.Context { return ctxFrom(t, outside, "Bearer nope") }, want: codes.Unauthenticated},
		"token prefix":         {ctx: func(t *testing.T) context.Context { return ctxFrom(t, outside, "Bearer s3cr") }, want: codes.Unauthenticated},
		"token without scheme": {ctx: func(t *testing.T) context.Context { return ctxFrom(t, outside, "s3cret") }, want: codes.Unauthenticated},
		"basic scheme":         {ctx: func(t *testing.T) context.Context { return ctxFrom(t, outside, "Basic s3cret") }, want: codes.Unauthenticated},
		"good bearer":          {ctx: func(t *testing.T) context.Context { return ctxFrom(t, outside, "Bearer s3cret") }, want: codes.OK},
		"second token":         {ctx: func(t *testing.T) context.Context { return ctxFrom(t, outside, "Bearer other") }, want: codes.OK},
		"good among bad":       {ctx: func(t *testing.T) context.Context { return ctxFrom(t, outside, "Basic x", "Bearer s3cret") }, want: codes.OK},
		"good, no peer":        {ctx: func(t *testing.T) context.Context { return ctxFrom(t, nil, "Bearer s3cret") }, want: codes.OK},
	}
	for name, tc := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := &fakeIngester{}
			srv := ingest.New(ingest.Options{Store: store, Tokens: []string{"s3cret", "other"}, TrustedNetworks: loopback, Logger: quietLogger()})
			resp, err := srv.Push(tc.ctx(t), oneEntry())
			if got := status.Code(err); got != tc.want {
				t.Fatalf("Push() code = %v (%v), want %v", got, err, tc.want)
			}
			wantCalls := 0
			if tc.want == codes.OK {
				wantCalls = 1
				if got, want := resp.GetBatchId(), uint64(7); got != want {
					t.Errorf("BatchId = %d, want %d", got, want)
				}
			}
			if got := store.calls(); got != wantCalls {
				t.Errorf("store called %d times, want %d", got, wantCalls)
			}
		})
	}
}

func TestPushAuthTrustedNetworks(t *testing.T) {
	t.Parallel()
	nets := append([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, loopback...)
	testCases := map[string]struct {
		addr net.Addr
		want codes.Code
	}{
		"no peer":                  {addr: nil, want: codes.PermissionDenied},
		"loopback v4":              {addr: tcpAddr("127.0.0.1:4242"), want: codes.OK},
		"loopback v6":              {addr: tcpAddr("[::1]:4242"), want: codes.OK},
		"private":                  {addr: tcpAddr("10.1.2.3:4242"), want: codes.OK},
		"v4-mapped v6 in network":  {addr: tcpAddr("[::ffff:10.1.2.3]:4242"), want: codes.OK},
		"outside":                  {addr: tcpAddr("203.0.113.9:4242"), want: codes.PermissionDenied},
		"v4-mapped v6 outside":     {addr: tcpAddr("[::ffff:203.0.113.9]:4242"), want: codes.PermissionDenied},
		"other v6":                 {addr: tcpAddr("[2001:db8::1]:4242"), want: codes.PermissionDenied},
		"other addr type, inside":  {addr: strAddr("10.9.9.9:1"), want: codes.OK},
		"other addr type, outside": {addr: strAddr("192.0.2.1:1"), want: codes.PermissionDenied},
		"unix socket":              {addr: &net.UnixAddr{Name: "/run/x.sock", Net: "unix"}, want: codes.PermissionDenied},
	}
	for name, tc := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := &fakeIngester{}
			srv := ingest.New(ingest.Options{Store: store, TrustedNetworks: nets, Logger: quietLogger()})
			// A token is not asked for, and one sent changes nothing.
			_, err := srv.Push(ctxFrom(t, tc.addr, "Bearer whatever"), oneEntry())
			if got := status.Code(err); got != tc.want {
				t.Fatalf("Push() code = %v (%v), want %v", got, err, tc.want)
			}
			if got, want := store.calls() > 0, tc.want == codes.OK; got != want {
				t.Errorf("store called = %v, want %v", got, want)
			}
		})
	}
}

func TestPushNoTrustedNetworks(t *testing.T) {
	t.Parallel()
	srv := ingest.New(ingest.Options{Store: &fakeIngester{}, Logger: quietLogger()})
	_, err := srv.Push(ctxFrom(t, tcpAddr("127.0.0.1:1")), oneEntry())
	if got, want := status.Code(err), codes.PermissionDenied; got != want {
		t.Fatalf("Push() code = %v (%v), want %v", got, err, want)
	}
}

func TestPushBatchLimit(t *testing.T) {
	t.Parallel()
	entries := func(n int) *hooktailv1.PushRequest {
		req := &hooktailv1.PushRequest{}
		for i := range n {
			req.Entries = append(req.Entries, &hooktailv1.Entry{Offset: int64(i)})
		}
		return req
	}
	store := &fakeIngester{}
	srv := ingest.New(ingest.Options{Store: store, TrustedNetworks: loopback, MaxBatchEntries: 3, Logger: quietLogger()})
	ctx := ctxFrom(t, tcpAddr("127.0.0.1:1"))
	if _, err := srv.Push(ctx, entries(3)); err != nil {
		t.Fatalf("Push(3 entries) = %v, want nil", err)
	}
	_, err := srv.Push(ctx, entries(4))
	if got, want := status.Code(err), codes.InvalidArgument; got != want {
		t.Fatalf("Push(4 entries) code = %v (%v), want %v", got, err, want)
	}
	if got, want := store.calls(), 1; got != want {
		t.Errorf("store called %d times, want %d (the oversized batch must not reach it)", got, want)
	}
}

func TestPushDefaultBatchLimit(t *testing.T) {
	t.Parallel()
	req := &hooktailv1.PushRequest{Entries: make([]*hooktailv1.Entry, 100001)}
	for i := range req.Entries {
		req.Entries[i] = &hooktailv1.Entry{}
	}
	srv := ingest.New(ingest.Options{Store: &fakeIngester{}, TrustedNetworks: loopback, Logger: quietLogger()})
	_, err := srv.Push(ctxFrom(t, tcpAddr("127.0.0.1:1")), req)
	if got, want := status.Code(err), codes.InvalidArgument; got != want {
		t.Fatalf("Push(100001 entries) code = %v (%v), want %v", got, err, want)
	}
	if _, err := srv.Push(ctxFrom(t, tcpAddr("127.0.0.1:1")), &hooktailv1.PushRequest{Entries: req.Entries[:100000]}); err != nil {
		t.Fatalf("Push(100000 entries) = %v, want nil", err)
	}
}

func TestPushStoreErrors(t *testing.T) {
	t.Parallel()
	const secret = "/var/lib/hooktail/hooktail.db: disk I/O error near table entries"
	testCases := map[string]struct {
		err      error
		cancel   bool
		wantCode codes.Code
	}{
		"store failure":              {err: errors.New(secret), wantCode: codes.Unavailable},
		"store failure, wrapped":     {err: fmt.Errorf("ingest: %w", errors.New(secret)), wantCode: codes.Unavailable},
		"not found is still retried": {err: fmt.Errorf("%s: %w", secret, aggregator.ErrNotFound), wantCode: codes.Unavailable},
		"cancelled":                  {err: fmt.Errorf("%s: %w", secret, context.Canceled), cancel: true, wantCode: codes.Canceled},
		"deadline":                   {err: fmt.Errorf("%s: %w", secret, context.DeadlineExceeded), wantCode: codes.DeadlineExceeded},
	}
	for name, tc := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := &fakeIngester{IngestFunc: func(context.Context, *aggregator.Batch) (aggregator.IngestResult, error) {
				return aggregator.IngestResult{}, tc.err
			}}
			srv := ingest.New(ingest.Options{Store: store, TrustedNetworks: loopback, Logger: quietLogger()})
			ctx, cancel := context.WithCancel(ctxFrom(t, tcpAddr("127.0.0.1:1")))
			defer cancel()
			if tc.cancel {
				cancel()
			}
			resp, err := srv.Push(ctx, oneEntry())
			if resp != nil {
				t.Errorf("Push() response = %v, want nil", resp)
			}
			st, _ := status.FromError(err)
			if got := st.Code(); got != tc.wantCode {
				t.Fatalf("Push() code = %v (%v), want %v", got, err, tc.wantCode)
			}
			if msg := st.Message(); strings.Contains(msg, "hooktail.db") || strings.Contains(msg, "disk I/O") || strings.Contains(msg, "ingest:") {
				t.Errorf("Push() error message %q leaks the store's error", msg)
			}
		})
	}
}

// TestPushCancelledContext checks a store that honours ctx: a request whose
// context is already done answers Canceled.
func TestPushCancelledContext(t *testing.T) {
	t.Parallel()
	store := &fakeIngester{IngestFunc: func(ctx context.Context, _ *aggregator.Batch) (aggregator.IngestResult, error) {
		<-ctx.Done()
		return aggregator.IngestResult{}, fmt.Errorf("begin transaction: %w", ctx.Err())
	}}
	srv := ingest.New(ingest.Options{Store: store, TrustedNetworks: loopback, Logger: quietLogger()})
	ctx, cancel := context.WithCancel(ctxFrom(t, tcpAddr("127.0.0.1:1")))
	cancel()
	_, err := srv.Push(ctx, oneEntry())
	if got, want := status.Code(err), codes.Canceled; got != want {
		t.Fatalf("Push() code = %v (%v), want %v", got, err, want)
	}
}

func TestPushResponseAndBatch(t *testing.T) {
	t.Parallel()
	store := &fakeIngester{IngestFunc: func(_ context.Context, b *aggregator.Batch) (aggregator.IngestResult, error) {
		return aggregator.IngestResult{Stored: 2, Duplicates: 1}, nil
	}}
	srv := ingest.New(ingest.Options{Store: store, TrustedNetworks: loopback, Logger: quietLogger()})
	req := &hooktailv1.PushRequest{AgentId: "agent-9", BatchId: 123456789012, Entries: []*hooktailv1.Entry{
		{Source: "a", Offset: 0, Message: "one"},
		{Source: "a", Offset: 10, Message: "two", Kind: hooktailv1.Kind_KIND_DELIVERY_SUMMARY},
		{Source: "b", Offset: 0, Message: "three"},
	}}
	resp, err := srv.Push(ctxFrom(t, tcpAddr("127.0.0.1:1")), req)
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	if diff := cmp.Diff(&hooktailv1.PushResponse{BatchId: 123456789012, Stored: 2, Duplicates: 1}, resp, protocmp.Transform()); diff != "" {
		t.Errorf("Push() response mismatch (-want +got):\n%s", diff)
	}
	want := &aggregator.Batch{AgentID: "agent-9", Entries: []aggregator.Entry{
		{Source: "a", Offset: 0, Message: "one", AgentID: "agent-9"},
		{Source: "a", Offset: 10, Message: "two", AgentID: "agent-9", Summary: true},
		{Source: "b", Offset: 0, Message: "three", AgentID: "agent-9"},
	}}
	if diff := cmp.Diff([]*aggregator.Batch{want}, store.batches); diff != "" {
		t.Errorf("stored batches mismatch (-want +got):\n%s", diff)
	}
}

// startBufconn serves srv over an in-memory listener and returns a client.
func startBufconn(t *testing.T, srv *ingest.Server, opts ...grpc.ServerOption) hooktailv1.IngestClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer(opts...)
	srv.Register(g)
	done := make(chan error, 1)
	go func() { done <- g.Serve(lis) }()
	t.Cleanup(func() {
		g.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	})
	dial := []grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}
	conn, err := grpc.NewClient("passthrough:///bufnet", dial...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return hooktailv1.NewIngestClient(conn)
}

func TestGRPCRoundTrip(t *testing.T) {
	t.Parallel()
	store := &fakeIngester{}
	client := startBufconn(t, ingest.New(ingest.Options{Store: store, Tokens: []string{"tok"}, Logger: quietLogger()}))
	tokenSpend := int64(5)
	req := &hooktailv1.PushRequest{AgentId: "agent-1", BatchId: 3, Entries: []*hooktailv1.Entry{
		{Source: "s", Fingerprint: 1, Offset: 2, File: "/f", TimestampUs: us(), Message: "héllo", TokenSpend: &tokenSpend, DetailsJson: `{"a":[1,2]}`},
	}}

	_, err := client.Push(t.Context(), req)
	if got, want := status.Code(err), codes.Unauthenticated; got != want {
		t.Fatalf("Push() without token: code = %v (%v), want %v", got, err, want)
	}

	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer tok")
	resp, err := client.Push(ctx, req)
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	if got, want := resp.GetBatchId(), uint64(3); got != want {
		t.Errorf("BatchId = %d, want %d", got, want)
	}
	if got, want := resp.GetStored(), uint32(1); got != want {
		t.Errorf("Stored = %d, want %d", got, want)
	}
	want := []aggregator.Entry{{
		Source: "s", Fingerprint: 1, Offset: 2, File: "/f", AgentID: "agent-1",
		Timestamp: time.UnixMicro(us()).UTC(), Message: "héllo", TokenSpend: &tokenSpend, Details: []byte(`{"a":[1,2]}`),
	}}
	if got := store.calls(); got != 1 {
		t.Fatalf("store called %d times, want 1", got)
	}
	if diff := cmp.Diff(want, store.batches[0].Entries); diff != "" {
		t.Errorf("stored entries mismatch (-want +got):\n%s", diff)
	}
}

// TestGRPCTrustedPeerOverTCP checks the peer address gRPC reports for a real
// TCP connection: loopback is trusted, and a server that trusts only another
// network refuses it.
func TestGRPCTrustedPeerOverTCP(t *testing.T) {
	t.Parallel()
	testCases := map[string]struct {
		nets []netip.Prefix
		want codes.Code
	}{
		"loopback trusted":     {nets: loopback, want: codes.OK},
		"loopback not trusted": {nets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, want: codes.PermissionDenied},
	}
	for name, tc := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			g := grpc.NewServer()
			ingest.New(ingest.Options{Store: &fakeIngester{}, TrustedNetworks: tc.nets, Logger: quietLogger()}).Register(g)
			go g.Serve(lis)
			t.Cleanup(g.Stop)
			conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			_, err = hooktailv1.NewIngestClient(conn).Push(t.Context(), oneEntry())
			if got := status.Code(err); got != tc.want {
				t.Fatalf("Push() code = %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

func us() int64 { return time.Date(2026, 7, 31, 10, 15, 2, 101877000, time.UTC).UnixMicro() }
