package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hooktail/hooktail/aggregator/httpapi"
	"github.com/hooktail/hooktail/aggregator/sqlite"
	"github.com/hooktail/hooktail/config"
)

// What each component lets change while it runs.
type (
	httpAccess interface {
		SetAccess(networks, proxies []netip.Prefix) error
		SetAPIKeys(keys []httpapi.APIKey) error
	}
	ingestAccess interface {
		SetAccess(tokens []string, trusted []netip.Prefix)
	}
	storeSettings interface {
		SetRetention(sqlite.Retention)
		SetDeliveryTimeout(time.Duration)
	}
)

// liveSettings are the settings a reload applies to the running
// aggregator; every other change needs a restart.
var liveSettings = []string{
	config.SettingIngestTokens, config.SettingRetention, config.SettingMaxDBBytes,
	config.SettingDeliveryTimeout, config.SettingExportTTL, config.SettingTrustedNetworks,
	config.SettingTrustedProxies, config.SettingAPIKeys,
}

// reloader holds the running configuration and applies a new one (SPEC §3:
// SIGHUP reloads the configuration and keeps the old one if the new one is
// invalid).
type reloader struct {
	path   string
	logger *slog.Logger
	api    httpAccess
	ingest ingestAccess
	store  storeSettings
	// cert is the TLS certificate served; nil without TLS.
	cert *certificate

	mu  sync.Mutex // serialises reloads
	cfg *config.Aggregator
}

// reload re-reads the configuration file and applies it. An invalid file
// changes nothing and is logged as one Error with every diagnostic
// (file:line:col); a valid one is applied as far as it can be live, and
// the settings that need a restart are named in a Warn.
func (r *reloader) reload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, diags := loadConfig(r.path)
	if diags.HasErrors() {
		r.logger.Error("configuration reload failed; the running configuration is kept",
			"config", r.path, "diagnostics", diagnosticLines(diags))
		return
	}
	if len(diags) > 0 {
		r.logger.Warn("configuration warnings", "config", r.path, "diagnostics", diagnosticLines(diags))
	}
	applied, restart, err := r.apply(cfg)
	if err != nil {
		r.logger.Error("configuration reload failed; the running configuration is kept", "config", r.path, "error", err)
		return
	}
	r.logger.Info("configuration reloaded", "config", r.path, "applied", applied)
	if len(restart) > 0 {
		r.logger.Warn("configuration changes need a restart to apply; they are ignored until then",
			"config", r.path, "settings", restart)
	}
	if r.cert != nil && !slices.Contains(restart, config.SettingListenTLS) {
		// Certificate rotation: the same files, maybe new contents.
		if err := r.cert.load(); err != nil {
			r.logger.Error("reload TLS certificate; the running one is kept", "error", err)
		}
	}
}

// apply applies the live settings of cfg that differ from the running
// configuration, and returns them and the changed settings that need a
// restart. The running configuration becomes cfg, but for the latter. A
// failure applies nothing.
func (r *reloader) apply(cfg *config.Aggregator) (applied, restart []string, err error) {
	changes := config.AggregatorChanges(r.cfg, cfg)
	for _, c := range changes {
		if slices.Contains(liveSettings, c) {
			applied = append(applied, c)
		} else {
			restart = append(restart, c)
		}
	}
	has := func(names ...string) bool {
		return slices.ContainsFunc(names, func(n string) bool { return slices.Contains(applied, n) })
	}
	// The steps that can fail go first; a failure of the second undoes
	// the first.
	if has(config.SettingAPIKeys) {
		if err := r.api.SetAPIKeys(apiKeys(cfg)); err != nil {
			return nil, nil, fmt.Errorf("apply api_key blocks: %w", err)
		}
	}
	if has(config.SettingTrustedNetworks, config.SettingTrustedProxies) {
		if err := r.api.SetAccess(trustedNetworks(cfg), cfg.TrustedProxies); err != nil {
			if has(config.SettingAPIKeys) {
				if uerr := r.api.SetAPIKeys(apiKeys(r.cfg)); uerr != nil {
					r.logger.Error("restore the running api_key blocks", "error", uerr)
				}
			}
			return nil, nil, fmt.Errorf("apply trusted_networks and trusted_proxies: %w", err)
		}
	}
	if has(config.SettingIngestTokens, config.SettingTrustedNetworks) {
		r.ingest.SetAccess(cfg.IngestTokens, trustedNetworks(cfg))
	}
	if has(config.SettingRetention, config.SettingMaxDBBytes) {
		r.store.SetRetention(retention(cfg))
	}
	if has(config.SettingDeliveryTimeout) {
		r.store.SetDeliveryTimeout(cfg.DeliveryTimeout)
	}
	// What needs a restart keeps running as it was.
	running := *cfg
	running.DataDir, running.Listen = r.cfg.DataDir, r.cfg.Listen
	r.cfg = &running
	return applied, restart, nil
}

// trustedNetworks is trusted_networks, never nil: an empty list trusts
// nobody (nil would mean httpapi's loopback default).
func trustedNetworks(cfg *config.Aggregator) []netip.Prefix {
	if cfg.TrustedNetworks == nil {
		return []netip.Prefix{}
	}
	return cfg.TrustedNetworks
}

// apiKeys converts the api_key blocks for httpapi; nil for none.
func apiKeys(cfg *config.Aggregator) []httpapi.APIKey {
	var out []httpapi.APIKey
	for _, k := range cfg.APIKeys {
		out = append(out, httpapi.APIKey{
			Name:        k.Name,
			TokenSHA256: k.TokenSHA256,
			Role:        httpapi.Role(k.Role),
			Endpoints:   k.Endpoints,
		})
	}
	return out
}

func retention(cfg *config.Aggregator) sqlite.Retention {
	return sqlite.Retention{MaxAge: cfg.Retention, MaxBytes: cfg.MaxDBBytes}
}

func diagnosticLines(diags hcl.Diagnostics) []string {
	out := make([]string, len(diags))
	for i, d := range diags {
		out[i] = config.FormatDiagnostic(d)
	}
	return out
}

// certificate is the TLS certificate both listeners serve, replaceable
// while they run (a reload re-reads the files).
type certificate struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func newCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads the certificate files; on failure the served one is kept.
func (c *certificate) load() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %q: %w", c.certFile, err)
	}
	c.cur.Store(&cert)
	return nil
}

// get is tls.Config.GetCertificate.
func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}
