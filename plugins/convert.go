package plugins

import (
	"encoding/json"
	"time"

	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// Conversions between the SDK's types and the generated types of the
// parser protocol, both ways, for every field; with wire.go (the Parse
// messages, by hand) the only code that sees the protocol. A nil message
// converts to the zero value.

func descriptionToProto(d Description) *hooktailv1.DescribeResponse {
	return &hooktailv1.DescribeResponse{
		Name:               d.Name,
		ProtocolVersion:    ProtocolVersion,
		StartPattern:       d.StartPattern,
		LinePerRecordFiles: d.LinePerRecordFiles,
	}
}

// descriptionFromProto also returns the protocol version the plugin speaks.
func descriptionFromProto(r *hooktailv1.DescribeResponse) (Description, uint32) {
	return Description{
		Name:               r.GetName(),
		StartPattern:       r.GetStartPattern(),
		LinePerRecordFiles: r.GetLinePerRecordFiles(),
	}, r.GetProtocolVersion()
}

func diagnosticsToProto(ds Diagnostics) []*hooktailv1.Diagnostic {
	if len(ds) == 0 {
		return nil
	}
	out := make([]*hooktailv1.Diagnostic, len(ds))
	for i, d := range ds {
		out[i] = &hooktailv1.Diagnostic{
			Severity:  string(d.Severity),
			Summary:   d.Summary,
			Detail:    d.Detail,
			Attribute: d.Attribute,
		}
	}
	return out
}

// diagnosticsFromProto reads a severity it does not know as an error: a
// problem is never made to look smaller than the plugin said.
func diagnosticsFromProto(ds []*hooktailv1.Diagnostic) Diagnostics {
	if len(ds) == 0 {
		return nil
	}
	out := make(Diagnostics, len(ds))
	for i, d := range ds {
		sev := Severity(d.GetSeverity())
		if sev != SeverityWarning {
			sev = SeverityError
		}
		out[i] = Diagnostic{Severity: sev, Summary: d.GetSummary(), Detail: d.GetDetail(), Attribute: d.GetAttribute()}
	}
	return out
}

// configToProto and configFromProto carry a configuration unchanged.
func configToProto(c json.RawMessage) string { return string(c) }

func configFromProto(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// timezoneToProto names a location for the plugin: the IANA name, "UTC",
// or "Local" (the plugin runs on the same host).
func timezoneToProto(loc *time.Location) string {
	if loc == nil {
		return ""
	}
	return loc.String()
}
