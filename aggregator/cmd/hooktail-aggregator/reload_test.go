package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator/httpapi"
	"github.com/hooktail/hooktail/aggregator/sqlite"
	"github.com/hooktail/hooktail/config"
)

// calls records the setter calls of the fakes, in order.
type calls []string

type fakeAPI struct {
	log *calls
	// err fails SetAccess, keysErr SetAPIKeys.
	err, keysErr error
}

func (f fakeAPI) SetAccess(networks, proxies []netip.Prefix) error {
	*f.log = append(*f.log, fmt.Sprintf("api.SetAccess(%v, %v)", networks, proxies))
	return f.err
}

func (f fakeAPI) SetAPIKeys(keys []httpapi.APIKey) error {
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		names = append(names, fmt.Sprintf("%s:%s:%v", k.Name, k.Role, k.Endpoints))
	}
	*f.log = append(*f.log, fmt.Sprintf("api.SetAPIKeys(%v)", names))
	return f.keysErr
}

type fakeIngest struct{ log *calls }

func (f fakeIngest) SetAccess(tokens []string, trusted []netip.Prefix) {
	*f.log = append(*f.log, fmt.Sprintf("ingest.SetAccess(%q, %v)", tokens, trusted))
}

type fakeStore struct{ log *calls }

func (f fakeStore) SetRetention(r sqlite.Retention) {
	*f.log = append(*f.log, fmt.Sprintf("store.SetRetention(%v, %d)", r.MaxAge, r.MaxBytes))
}

func (f fakeStore) SetDeliveryTimeout(d time.Duration) {
	*f.log = append(*f.log, fmt.Sprintf("store.SetDeliveryTimeout(%v)", d))
}

const reloadBase = `
data_dir = "/var/lib/hooktail"
listen {
  http = "127.0.0.1:7401"
  grpc = "127.0.0.1:7400"
}
ingest_tokens    = ["a"]
retention        = "720h"
trusted_networks = ["127.0.0.0/8"]
`

func mustLoad(t *testing.T, body string) *config.Aggregator {
	t.Helper()
	cfg, diags := loadConfig(writeConfig(t, "aggregator.hcl", body))
	if diags.HasErrors() {
		t.Fatalf("loadConfig: %v", diags)
	}
	return cfg
}

func TestReloadApply(t *testing.T) {
	t.Parallel()
	testCases := map[string]struct {
		body           string
		wantCalls      calls
		wantApplied    []string
		wantRestart    []string
		wantRunningDir string
	}{
		"nothing changed": {body: reloadBase},
		"ingest token added": {
			body:        strings.Replace(reloadBase, `["a"]`, `["a", "b"]`, 1),
			wantCalls:   calls{`ingest.SetAccess(["a" "b"], [127.0.0.0/8])`},
			wantApplied: []string{"ingest_tokens"},
		},
		"trusted networks": {
			body: strings.Replace(reloadBase, `["127.0.0.0/8"]`, `["10.0.0.0/8"]`, 1),
			wantCalls: calls{
				"api.SetAccess([10.0.0.0/8], [])",
				`ingest.SetAccess(["a"], [10.0.0.0/8])`,
			},
			wantApplied: []string{"trusted_networks"},
		},
		"no trusted network at all": {
			body:        strings.Replace(reloadBase, `["127.0.0.0/8"]`, `[]`, 1),
			wantCalls:   calls{"api.SetAccess([], [])", `ingest.SetAccess(["a"], [])`},
			wantApplied: []string{"trusted_networks"},
		},
		"proxies": {
			body:        reloadBase + `trusted_proxies = ["10.9.9.9"]` + "\n",
			wantCalls:   calls{"api.SetAccess([127.0.0.0/8], [10.9.9.9/32])"},
			wantApplied: []string{"trusted_proxies"},
		},
		"api keys added": {
			body: reloadBase + "api_key \"ops\" {\n  token = \"x\"\n  role = \"owner\"\n}\n" +
				"api_key \"ci\" {\n  token = \"y\"\n  endpoints = [\"a\", \"b\"]\n}\n",
			wantCalls:   calls{"api.SetAPIKeys([ops:owner:[*] ci:viewer:[a b]])"},
			wantApplied: []string{"api_key"},
		},
		"api keys and networks": {
			body: strings.Replace(reloadBase, `["127.0.0.0/8"]`, `["10.0.0.0/8"]`, 1) +
				"api_key \"ops\" {\n  token = \"x\"\n}\n",
			wantCalls: calls{
				"api.SetAPIKeys([ops:viewer:[*]])",
				"api.SetAccess([10.0.0.0/8], [])",
				`ingest.SetAccess(["a"], [10.0.0.0/8])`,
			},
			wantApplied: []string{"trusted_networks", "api_key"},
		},
		"retention, size, timeout": {
			body: strings.Replace(reloadBase, `"720h"`, `"24h"`, 1) + "max_db_bytes = 1000\ndelivery_timeout = \"5m\"\n",
			wantCalls: calls{
				"store.SetRetention(24h0m0s, 1000)",
				"store.SetDeliveryTimeout(5m0s)",
			},
			wantApplied: []string{"retention", "max_db_bytes", "delivery_timeout"},
		},
		"retention off": {
			body:        strings.Replace(reloadBase, `"720h"`, `"0s"`, 1),
			wantCalls:   calls{"store.SetRetention(0s, 0)"},
			wantApplied: []string{"retention"},
		},
		"restart only": {
			body:        strings.NewReplacer(`"/var/lib/hooktail"`, `"/srv/hooktail"`, `127.0.0.1:7401`, `0.0.0.0:7401`).Replace(reloadBase),
			wantRestart: []string{"data_dir", "listen.http"},
		},
		"both": {
			body:        strings.NewReplacer(`127.0.0.1:7400`, `0.0.0.0:7400`, `["a"]`, `[]`).Replace(reloadBase),
			wantCalls:   calls{`ingest.SetAccess([], [127.0.0.0/8])`},
			wantApplied: []string{"ingest_tokens"},
			wantRestart: []string{"listen.grpc"},
		},
	}
	for name, tc := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var log calls
			running := mustLoad(t, reloadBase)
			r := &reloader{api: fakeAPI{log: &log}, ingest: fakeIngest{log: &log}, store: fakeStore{log: &log}, cfg: running}
			applied, restart, err := r.apply(mustLoad(t, tc.body))
			if err != nil {
				t.Fatalf("apply() = %v", err)
			}
			if diff := cmp.Diff(tc.wantCalls, log); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantApplied, applied); diff != "" {
				t.Errorf("applied (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRestart, restart); diff != "" {
				t.Errorf("restart (-want +got):\n%s", diff)
			}
			// The running configuration keeps what needs a restart; the
			// same file again changes nothing more.
			if r.cfg.DataDir != running.DataDir || r.cfg.Listen.HTTP != running.Listen.HTTP || r.cfg.Listen.GRPC != running.Listen.GRPC {
				t.Errorf("running configuration took settings that need a restart: %+v", r.cfg)
			}
			log = nil
			applied, restart, err = r.apply(mustLoad(t, tc.body))
			if err != nil || len(applied) != 0 || len(log) != 0 || !cmp.Equal(tc.wantRestart, restart) {
				t.Errorf("second apply() = %v, %v, %v with calls %v; want nothing applied and the same restart list", applied, restart, err, log)
			}
		})
	}
}

// TestReloadApplyFailure checks that a failing step applies nothing.
func TestReloadApplyFailure(t *testing.T) {
	t.Parallel()
	var log calls
	running := mustLoad(t, reloadBase)
	r := &reloader{api: fakeAPI{log: &log, err: errors.New("bad prefix")}, ingest: fakeIngest{log: &log}, store: fakeStore{log: &log}, cfg: running}
	_, _, err := r.apply(mustLoad(t, strings.Replace(reloadBase, `["127.0.0.0/8"]`, `["10.0.0.0/8"]`, 1)+"max_db_bytes = 5\n"))
	if err == nil {
		t.Fatal("apply() = nil, want the failure")
	}
	if diff := cmp.Diff(calls{"api.SetAccess([10.0.0.0/8], [])"}, log); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if r.cfg != running {
		t.Error("the running configuration changed after a failed apply")
	}
}

// TestReloadApplyFailureRestoresKeys checks that keys applied before a
// failing step are put back.
func TestReloadApplyFailureRestoresKeys(t *testing.T) {
	t.Parallel()
	var log calls
	running := mustLoad(t, reloadBase+"api_key \"old\" {\n  token = \"o\"\n}\n")
	r := &reloader{api: fakeAPI{log: &log, err: errors.New("bad prefix")}, ingest: fakeIngest{log: &log}, store: fakeStore{log: &log},
		cfg: running, logger: slog.New(slog.DiscardHandler)}
	_, _, err := r.apply(mustLoad(t, strings.Replace(reloadBase, `["127.0.0.0/8"]`, `["10.0.0.0/8"]`, 1)+
		"api_key \"new\" {\n  token = \"n\"\n}\n"))
	if err == nil {
		t.Fatal("apply() = nil, want the failure")
	}
	want := calls{"api.SetAPIKeys([new:viewer:[*]])", "api.SetAccess([10.0.0.0/8], [])", "api.SetAPIKeys([old:viewer:[*]])"}
	if diff := cmp.Diff(want, log); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if r.cfg != running {
		t.Error("the running configuration changed after a failed apply")
	}

	log = nil
	r.api = fakeAPI{log: &log, keysErr: errors.New("bad role")}
	if _, _, err := r.apply(mustLoad(t, reloadBase+"api_key \"new\" {\n  token = \"n\"\n}\n")); err == nil {
		t.Fatal("apply() with failing keys = nil, want the failure")
	}
	if diff := cmp.Diff(calls{"api.SetAPIKeys([new:viewer:[*]])"}, log); diff != "" {
		t.Errorf("calls with failing keys (-want +got):\n%s", diff)
	}
}

// TestReloadLogs checks what a reload logs: one Error line with every
// diagnostic at its file:line for an invalid file (nothing applied), the
// settings applied, and a Warn naming those that need a restart.
func TestReloadLogs(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "aggregator.hcl", reloadBase)
	var log calls
	logs := &syncBuffer{}
	r := &reloader{path: path, logger: slog.New(slog.NewJSONHandler(logs, nil)),
		api: fakeAPI{log: &log}, ingest: fakeIngest{log: &log}, store: fakeStore{log: &log}, cfg: mustLoad(t, reloadBase)}
	rewrite := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	rewrite(strings.Replace(reloadBase, `"720h"`, `"forever"`, 1) + "max_db_bytes = -1\n")
	r.reload()
	rec, ok := logRecord(logs.String(), "configuration reload failed; the running configuration is kept")
	if !ok || rec["level"] != "ERROR" {
		t.Fatalf("no Error log of the failed reload; logs:\n%s", logs)
	}
	diags, _ := rec["diagnostics"].([]any)
	if len(diags) < 2 {
		t.Fatalf("diagnostics %v, want one per error", rec["diagnostics"])
	}
	for _, d := range diags {
		if s, _ := d.(string); !strings.HasPrefix(s, path+":") || !strings.Contains(s, "error:") {
			t.Errorf("diagnostic %q, want %s:line:col: error: …", d, path)
		}
	}
	if len(log) != 0 {
		t.Errorf("an invalid file applied %v", log)
	}

	rewrite(reloadBase + "api_key \"ops\" {\n  token = \"x\"\n}\n")
	r.reload()
	if diff := cmp.Diff(calls{"api.SetAPIKeys([ops:viewer:[*]])"}, log); diff != "" {
		t.Errorf("api_key block: calls (-want +got):\n%s", diff)
	}
	log = nil

	rewrite(strings.Replace(reloadBase, "127.0.0.1:7401", "127.0.0.1:9999", 1) + "delivery_timeout = \"1m\"\n" +
		"api_key \"ops\" {\n  token = \"x\"\n}\n")
	r.reload()
	if recs := logRecords(logs.String(), "configuration reloaded"); len(recs) != 2 || fmt.Sprint(recs[1]["applied"]) != "[delivery_timeout]" {
		t.Errorf("reloaded logs %v, want the second to apply [delivery_timeout]; logs:\n%s", recs, logs)
	}
	if rec, ok := logRecord(logs.String(), "configuration reloaded"); !ok || fmt.Sprint(rec["applied"]) != "[api_key]" {
		t.Errorf("reloaded log %v, want applied [delivery_timeout]; logs:\n%s", rec, logs)
	}
	rec, ok = logRecord(logs.String(), "configuration changes need a restart to apply; they are ignored until then")
	if !ok || rec["level"] != "WARN" || fmt.Sprint(rec["settings"]) != "[listen.http]" {
		t.Errorf("restart log %v, want a Warn naming listen.http; logs:\n%s", rec, logs)
	}
}

// writeCert writes a new self-signed certificate for commonName and its
// key to certFile and keyFile.
func writeCert(t *testing.T, certFile, keyFile, commonName string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{commonName},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadCertificate checks certificate rotation: a reload re-reads the
// same files, and files that do not load keep the served certificate.
func TestReloadCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, certFile, keyFile, "one.example")
	body := fmt.Sprintf("listen {\n  tls {\n    cert_file = %q\n    key_file = %q\n  }\n}\n", certFile, keyFile)
	path := writeConfig(t, "aggregator.hcl", body)
	cert, err := newCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	served := func() string {
		c, err := cert.get(nil)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}
	var log calls
	logs := &syncBuffer{}
	r := &reloader{path: path, logger: slog.New(slog.NewJSONHandler(logs, nil)), cert: cert,
		api: fakeAPI{log: &log}, ingest: fakeIngest{log: &log}, store: fakeStore{log: &log}, cfg: mustLoad(t, body)}

	writeCert(t, certFile, keyFile, "two.example")
	r.reload()
	if got := served(); got != "two.example" {
		t.Errorf("served %q after the reload, want two.example", got)
	}
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.reload()
	if got := served(); got != "two.example" {
		t.Errorf("served %q after a reload of a broken key, want two.example kept", got)
	}
	if rec, ok := logRecord(logs.String(), "reload TLS certificate; the running one is kept"); !ok || rec["level"] != "ERROR" {
		t.Errorf("no Error log of the broken key; logs:\n%s", logs)
	}
}
