package ingest_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/ingest"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// gathered returns the value of every series of the registry, keyed by
// "name{label=value,…}"; a histogram's value is its sample count.
func gathered(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := f.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	results := []func(b *aggregator.Batch) (aggregator.IngestResult, error){
		func(b *aggregator.Batch) (aggregator.IngestResult, error) {
			return aggregator.IngestResult{Stored: len(b.Entries) - 1, Duplicates: 1}, nil
		},
		func(*aggregator.Batch) (aggregator.IngestResult, error) {
			return aggregator.IngestResult{}, &aggregator.InvalidEntryError{Index: 0, Err: fmt.Errorf("bad")}
		},
		func(*aggregator.Batch) (aggregator.IngestResult, error) {
			return aggregator.IngestResult{}, fmt.Errorf("insert: %w", aggregator.ErrStorageFull)
		},
		func(*aggregator.Batch) (aggregator.IngestResult, error) {
			return aggregator.IngestResult{}, fmt.Errorf("insert: %w", aggregator.ErrStorageIO)
		},
		func(b *aggregator.Batch) (aggregator.IngestResult, error) {
			return aggregator.IngestResult{Stored: len(b.Entries)}, nil
		},
	}
	var mu sync.Mutex
	call := 0
	store := &fakeIngester{IngestFunc: func(_ context.Context, b *aggregator.Batch) (aggregator.IngestResult, error) {
		mu.Lock()
		defer mu.Unlock()
		call++
		return results[call-1](b)
	}}
	srv := ingest.New(ingest.Options{Store: store, TrustedNetworks: loopback, MaxBatchEntries: 5, Logger: quietLogger()})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(srv)

	three := &hooktailv1.PushRequest{Entries: []*hooktailv1.Entry{{Offset: 1}, {Offset: 2}, {Offset: 3}}}
	ctx := ctxFrom(t, tcpAddr("127.0.0.1:1"))
	for range results {
		srv.Push(ctx, three)
	}
	srv.Push(ctx, &hooktailv1.PushRequest{Entries: make([]*hooktailv1.Entry, 6)}) // too large
	srv.Push(ctxFrom(t, tcpAddr("203.0.113.1:1")), three)                         // outside

	got := gathered(t, reg)
	for name, want := range map[string]float64{
		"hooktail_ingest_batches_total":                            2,
		"hooktail_ingest_entries_total":                            5,
		"hooktail_ingest_duplicates_total":                         1,
		"hooktail_ingest_rejected_entries_total":                   1,
		"hooktail_ingest_failures_total{reason=invalid_entry}":     1,
		"hooktail_ingest_failures_total{reason=disk_full}":         1,
		"hooktail_ingest_failures_total{reason=io_error}":          1,
		"hooktail_ingest_failures_total{reason=too_large}":         1,
		"hooktail_ingest_failures_total{reason=permission_denied}": 1,
		"hooktail_ingest_failures_total{reason=unauthenticated}":   0,
		"hooktail_ingest_failures_total{reason=store_error}":       0,
		"hooktail_ingest_duration_seconds":                         5,
		"hooktail_ingest_in_flight_batches":                        0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
}

// TestPushStorageErrors checks the answers to a full disk and an I/O
// error: retryable, saying what happened, without the store's text.
func TestPushStorageErrors(t *testing.T) {
	t.Parallel()
	const secret = "/var/lib/hooktail/hooktail.db: database or disk is full"
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"disk full": {fmt.Errorf("%w: insert entries batch: %s", aggregator.ErrStorageFull, secret), "disk is full"},
		"i/o error": {fmt.Errorf("%w: commit: %s", aggregator.ErrStorageIO, secret), "storage I/O error"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := &fakeIngester{IngestFunc: func(context.Context, *aggregator.Batch) (aggregator.IngestResult, error) {
				return aggregator.IngestResult{}, tc.err
			}}
			srv := ingest.New(ingest.Options{Store: store, TrustedNetworks: loopback, Logger: quietLogger()})
			_, err := srv.Push(ctxFrom(t, tcpAddr("127.0.0.1:1")), oneEntry())
			st, _ := status.FromError(err)
			if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), tc.want) {
				t.Errorf("Push() = %v, want Unavailable saying %q", err, tc.want)
			}
			if strings.Contains(st.Message(), "hooktail.db") {
				t.Errorf("Push() message %q leaks the store's error", st.Message())
			}
		})
	}
}

func TestSetAccess(t *testing.T) {
	t.Parallel()
	srv := ingest.New(ingest.Options{Store: &fakeIngester{}, TrustedNetworks: loopback, Logger: quietLogger()})
	push := func(addr string, auth ...string) codes.Code {
		_, err := srv.Push(ctxFrom(t, tcpAddr(addr), auth...), oneEntry())
		return status.Code(err)
	}
	if got := push("127.0.0.1:1"); got != codes.OK {
		t.Fatalf("trusted push = %v, want OK", got)
	}
	// A token now: even loopback needs it.
	srv.SetAccess([]string{"s3cret"}, loopback)
	for _, tc := range []struct {
		addr string
		auth []string
		want codes.Code
	}{
		{"127.0.0.1:1", nil, codes.Unauthenticated},
		{"127.0.0.1:1", []string{"Bearer nope"}, codes.Unauthenticated},
		{"203.0.113.1:1", []string{"Bearer s3cret"}, codes.OK},
	} {
		if got := push(tc.addr, tc.auth...); got != tc.want {
			t.Errorf("push from %s with %q after adding a token = %v, want %v", tc.addr, tc.auth, got, tc.want)
		}
	}
	// Tokens dropped, another trusted network.
	srv.SetAccess(nil, []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")})
	if got := push("203.0.113.1:1"); got != codes.OK {
		t.Errorf("push from the new trusted network = %v, want OK", got)
	}
	if got := push("127.0.0.1:1", "Bearer s3cret"); got != codes.PermissionDenied {
		t.Errorf("push from loopback, no longer trusted = %v, want PermissionDenied", got)
	}
}

// TestSetAccessConcurrent changes the access while pushes run; run with
// -race.
func TestSetAccessConcurrent(t *testing.T) {
	t.Parallel()
	srv := ingest.New(ingest.Options{Store: &fakeIngester{}, TrustedNetworks: loopback, Logger: quietLogger()})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 100 {
			if i%2 == 0 {
				srv.SetAccess([]string{"t"}, loopback)
			} else {
				srv.SetAccess(nil, loopback)
			}
		}
	})
	for range 3 {
		wg.Go(func() {
			for range 100 {
				_, err := srv.Push(ctxFrom(t, tcpAddr("127.0.0.1:1"), "Bearer t"), oneEntry())
				if err != nil {
					t.Errorf("Push() = %v, want OK with either access", err)
				}
			}
		})
	}
	wg.Wait()
}
