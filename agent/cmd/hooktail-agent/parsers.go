package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/hooktail/hooktail/config"
	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/builtin"
	"github.com/hooktail/hooktail/plugins/webhookserver"
)

// load reads and checks the configuration, parsers included, and prints
// every diagnostic with file:line:col.
func load(path string, stderr io.Writer) (*config.Agent, error) {
	cfg, diags := config.LoadAgent(path)
	if cfg != nil && !diags.HasErrors() {
		diags = append(diags, checkParsers(context.Background(), cfg)...)
	}
	if len(diags) > 0 {
		if err := config.WriteDiagnostics(stderr, diags); err != nil {
			return nil, err
		}
	}
	if diags.HasErrors() {
		return nil, errReported
	}
	return cfg, nil
}

// checkParsers resolves each source's parser and has it validate its
// parser_config; problems point at the source block's lines.
func checkParsers(ctx context.Context, cfg *config.Agent) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, p := range cfg.Plugins {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Plugin not run",
			Detail:  fmt.Sprintf("plugin %q: out-of-process parser plugins are not supported by this version yet; the block is checked but its command is never started", p.Name),
			Subject: rangePtr(p.DeclRange)})
	}
	if cfg.Metrics != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Metrics not served",
			Detail:  fmt.Sprintf("metrics { listen = %q }: this version serves no metrics endpoint yet", cfg.Metrics.Listen),
			Subject: rangePtr(cfg.Metrics.DeclRange)})
	}
	for i := range cfg.Sources {
		src := &cfg.Sources[i]
		p, err := newParser(cfg, src)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid parser",
				Detail: err.Error(), Subject: rangePtr(src.ParserRange)})
			continue
		}
		if src.Parser == webhookserver.Name {
			for _, glob := range src.Paths {
				if strings.HasSuffix(glob, ".json") {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "JSONL not supported yet",
						Detail: fmt.Sprintf("source %q: path %q: this version's %s parser reads the text logs only; "+
							"a webhooks_*.json file would be framed as one record and cut. Tail the *.log files only for now.",
							src.Name, glob, webhookserver.Name),
						Subject: rangePtr(src.PathsRange)})
				}
			}
		}
		pd, err := p.ValidateConfig(ctx, src.ParserConfig)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Parser failed",
				Detail: fmt.Sprintf("parser %q could not validate its configuration: %v", src.Parser, err), Subject: rangePtr(src.ParserRange)})
			continue
		}
		for _, d := range pd {
			sev := hcl.DiagError
			if d.Severity == plugins.SeverityWarning {
				sev = hcl.DiagWarning
			}
			detail := d.Detail
			if d.Attribute != "" {
				detail = strings.TrimSpace(fmt.Sprintf("parser_config.%s: %s", d.Attribute, detail))
			}
			diags = append(diags, &hcl.Diagnostic{Severity: sev, Summary: d.Summary, Detail: detail,
				Subject: rangePtr(src.ParserConfigRange)})
		}
	}
	return diags
}

func rangePtr(r hcl.Range) *hcl.Range {
	if r.Filename == "" {
		return nil
	}
	return &r
}

// newParser returns the source's parser, unconfigured.
func newParser(cfg *config.Agent, src *config.Source) (plugins.Parser, error) {
	if p, ok := builtin.New(src.Parser); ok {
		return p, nil
	}
	if _, ok := cfg.Plugin(src.Parser); ok {
		return nil, fmt.Errorf("parser %q names a plugin block; out-of-process parser plugins are not supported by this build yet (built-in parsers: %s)",
			src.Parser, strings.Join(builtin.Names(), ", "))
	}
	return nil, fmt.Errorf("unknown parser %q: not a built-in parser (%s) nor the label of a plugin block",
		src.Parser, strings.Join(builtin.Names(), ", "))
}

// configuredParser returns the source's parser, configured.
func configuredParser(ctx context.Context, cfg *config.Agent, src *config.Source) (plugins.Parser, error) {
	p, err := newParser(cfg, src)
	if err != nil {
		return nil, err
	}
	diags, err := p.Configure(ctx, src.ParserConfig)
	if err != nil {
		return nil, fmt.Errorf("configure parser %q of source %q: %w", src.Parser, src.Name, err)
	}
	for _, d := range diags {
		if d.Severity == plugins.SeverityError {
			return nil, fmt.Errorf("configure parser %q of source %q: %s: %s", src.Parser, src.Name, d.Summary, d.Detail)
		}
	}
	return p, nil
}
