package httpapi_test

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/httpapi"
)

// metricsServer is a Server whose request metrics are registered on a
// registry of its own, which it serves at /metrics.
func metricsServer(t *testing.T, mod func(*httpapi.Options)) (*httpapi.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	store := &funcStore{DeliveryFunc: func(context.Context, string) (*aggregator.Delivery, error) {
		return nil, aggregator.ErrNotFound
	}}
	s, _ := testServer(t, store, func(o *httpapi.Options) {
		o.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		if mod != nil {
			mod(o)
		}
	})
	reg.MustRegister(s)
	return s, reg
}

// histogramCounts returns the sample count of each series of a histogram,
// keyed by its labels as "name=value,…" in label order.
func histogramCounts(t *testing.T, g prometheus.Gatherer, name string) map[string]uint64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[strings.Join(labels, ",")] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

func TestRequestMetricsByRouteTemplate(t *testing.T) {
	s, reg := metricsServer(t, nil)
	for _, req := range []struct {
		method, path, peer string
		want               int
	}{
		{"GET", "/healthz", "127.0.0.1:1", 200},
		{"GET", "/healthz", "127.0.0.1:1", 200},
		{"GET", "/logs/api/workflow-steps/hook-abc", "127.0.0.1:1", 404},
		{"GET", "/logs/api/workflow-steps/hook-def", "127.0.0.1:1", 404},
		{"GET", "/logs/api/workflow-steps/hook-abc", "8.8.8.8:1", 403},
		{"GET", "/no/such/route", "127.0.0.1:1", 404},
		{"POST", "/logs/api/entries", "127.0.0.1:1", 405},
	} {
		w := get(s, req.path, func(r *http.Request) { r.Method, r.RemoteAddr = req.method, req.peer })
		if w.Code != req.want {
			t.Fatalf("%s %s from %s: status %d, want %d", req.method, req.path, req.peer, w.Code, req.want)
		}
	}
	want := map[string]uint64{
		"code=200,route=/healthz":                           2,
		"code=404,route=/logs/api/workflow-steps/{hook_id}": 2,
		"code=403,route=/logs/api/workflow-steps/{hook_id}": 1,
		"code=404,route=unmatched":                          1,
		"code=405,route=unmatched":                          1,
	}
	got := histogramCounts(t, reg, "hooktail_http_request_duration_seconds")
	for k, n := range want {
		if got[k] != n {
			t.Errorf("requests{%s} = %d, want %d (all series: %v)", k, got[k], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want exactly %v: no raw path may become a label", got, want)
	}
}

func TestMetricsRoute(t *testing.T) {
	t.Run("trusted", func(t *testing.T) {
		s, _ := metricsServer(t, nil)
		get(s, "/healthz")
		w := get(s, "/metrics")
		if w.Code != http.StatusOK {
			t.Fatalf("GET /metrics: status %d, want 200", w.Code)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type = %q, want the Prometheus text format", ct)
		}
		if body := w.Body.String(); !strings.Contains(body, `hooktail_http_request_duration_seconds_count{code="200",route="/healthz"} 1`) {
			t.Errorf("GET /metrics body lacks the /healthz request:\n%s", body)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		s, _ := metricsServer(t, nil)
		w := get(s, "/metrics", func(r *http.Request) { r.RemoteAddr = "8.8.8.8:1" })
		if w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), "hooktail_") {
			t.Errorf("GET /metrics from outside: status %d, body %q; want 403 without metrics", w.Code, w.Body)
		}
	})
	t.Run("without a metrics handler", func(t *testing.T) {
		s, _ := testServer(t, &funcStore{}, nil)
		if w := get(s, "/metrics"); w.Code != http.StatusNotFound {
			t.Errorf("GET /metrics: status %d, want 404", w.Code)
		}
	})
}

func TestSetAccess(t *testing.T) {
	s, _ := testServer(t, &funcStore{}, nil) // nil networks: loopback only
	from := func(peer string, xff ...string) int {
		return get(s, "/logs/api/workflow-steps/"+strings.Repeat("x", 101), func(r *http.Request) {
			r.RemoteAddr = peer
			for _, h := range xff {
				r.Header.Add("X-Forwarded-For", h)
			}
		}).Code
	}
	// 422 is past the access check (the hook_id is too long): trusted.
	if got := from("8.8.8.8:1"); got != http.StatusForbidden {
		t.Fatalf("before SetAccess: status %d from 8.8.8.8, want 403", got)
	}
	if err := s.SetAccess(prefixes("8.8.8.0/24"), prefixes("192.0.2.1/32")); err != nil {
		t.Fatal(err)
	}
	for peer, want := range map[string]int{"8.8.8.8:1": 422, "127.0.0.1:1": 403} {
		if got := from(peer); got != want {
			t.Errorf("after SetAccess: status %d from %s, want %d", got, peer, want)
		}
	}
	if got := from("192.0.2.1:1", "8.8.8.9"); got != 422 {
		t.Errorf("after SetAccess: status %d from a trusted proxy for 8.8.8.9, want 422", got)
	}
	if err := s.SetAccess([]netip.Prefix{{}}, nil); err == nil {
		t.Error("SetAccess(an invalid prefix) = nil, want an error")
	}
	if got := from("8.8.8.8:1"); got != 422 {
		t.Errorf("after a refused SetAccess: status %d from 8.8.8.8, want 422 (unchanged)", got)
	}
	if err := s.SetAccess(nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := from("127.0.0.1:1"); got != 422 {
		t.Errorf("after SetAccess(nil): status %d from loopback, want 422", got)
	}
}

// TestSetAccessConcurrent changes the access while requests are served;
// run with -race.
func TestSetAccessConcurrent(t *testing.T) {
	s, _ := testServer(t, &funcStore{}, nil)
	path := "/logs/api/workflow-steps/" + strings.Repeat("x", 101)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 100 {
			nets := prefixes("10.0.0.0/8")
			if i%2 == 0 {
				nets = prefixes("127.0.0.0/8")
			}
			if err := s.SetAccess(nets, nil); err != nil {
				t.Error(err)
			}
		}
	})
	for range 3 {
		wg.Go(func() {
			for range 100 {
				if code := get(s, path).Code; code != 403 && code != 422 {
					t.Errorf("status %d, want 403 or 422", code)
				}
			}
		})
	}
	wg.Wait()
}
