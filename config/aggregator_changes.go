package config

import "slices"

// Names of the aggregator's settings, as AggregatorChanges reports them:
// the HCL attribute or block, "listen." for the listen block's.
const (
	SettingDataDir         = "data_dir"
	SettingListenHTTP      = "listen.http"
	SettingListenGRPC      = "listen.grpc"
	SettingListenTLS       = "listen.tls"
	SettingIngestTokens    = "ingest_tokens"
	SettingRetention       = "retention"
	SettingMaxDBBytes      = "max_db_bytes"
	SettingDeliveryTimeout = "delivery_timeout"
	SettingExportTTL       = "export_ttl"
	SettingTrustedNetworks = "trusted_networks"
	SettingTrustedProxies  = "trusted_proxies"
	SettingAPIKeys         = "api_key"
)

// AggregatorChanges returns the names of the settings (Setting*) whose
// values differ between two loaded configurations, in the order of
// Setting*. Where they were written (ranges, Files) does not count; the
// order of ingest_tokens, trusted_networks and trusted_proxies does not
// either (they are sets), that of api_key blocks does. The tls block
// compares by its file paths: the files' contents are not read.
func AggregatorChanges(old, cur *Aggregator) []string {
	var out []string
	changed := func(name string, differ bool) {
		if differ {
			out = append(out, name)
		}
	}
	changed(SettingDataDir, old.DataDir != cur.DataDir)
	changed(SettingListenHTTP, old.Listen.HTTP != cur.Listen.HTTP)
	changed(SettingListenGRPC, old.Listen.GRPC != cur.Listen.GRPC)
	changed(SettingListenTLS, !sameTLS(old.Listen.TLS, cur.Listen.TLS))
	changed(SettingIngestTokens, !sameSet(old.IngestTokens, cur.IngestTokens))
	changed(SettingRetention, old.Retention != cur.Retention)
	changed(SettingMaxDBBytes, old.MaxDBBytes != cur.MaxDBBytes)
	changed(SettingDeliveryTimeout, old.DeliveryTimeout != cur.DeliveryTimeout)
	changed(SettingExportTTL, old.ExportTTL != cur.ExportTTL)
	changed(SettingTrustedNetworks, !sameSet(old.TrustedNetworks, cur.TrustedNetworks))
	changed(SettingTrustedProxies, !sameSet(old.TrustedProxies, cur.TrustedProxies))
	changed(SettingAPIKeys, !slices.EqualFunc(old.APIKeys, cur.APIKeys, sameAPIKey))
	return out
}

func sameTLS(a, b *ServerTLS) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.CertFile == b.CertFile && a.KeyFile == b.KeyFile
}

func sameAPIKey(a, b APIKey) bool {
	return a.Name == b.Name && a.Token == b.Token && a.TokenSHA256 == b.TokenSHA256 &&
		a.Role == b.Role && slices.Equal(a.Endpoints, b.Endpoints)
}

// sameSet reports whether a and b hold the same values, in any order and
// number of repeats.
func sameSet[T comparable](a, b []T) bool {
	in := func(xs []T, v T) bool { return slices.Contains(xs, v) }
	for _, v := range a {
		if !in(b, v) {
			return false
		}
	}
	for _, v := range b {
		if !in(a, v) {
			return false
		}
	}
	return true
}
