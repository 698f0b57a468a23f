package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/hooktail/hooktail/agent/pluginhost"
	"github.com/hooktail/hooktail/config"
	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/builtin"
)

// load reads and checks the configuration, parsers and plugins included,
// and prints every diagnostic with file:line:col.
func load(path string, stderr io.Writer) (*config.Agent, error) {
	cfg, diags := config.LoadAgent(path)
	if cfg != nil && !diags.HasErrors() {
		// What the plugins started for the check log goes with the
		// diagnostics, from warnings up.
		logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		diags = append(diags, checkParsers(context.Background(), cfg, logger)...)
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

// checkParsers starts every plugin block's plugin (its handshake checked)
// and has it validate its config, then resolves each source's parser and
// has a built-in one validate parser_config. Problems point at the lines
// of the plugin or source block.
func checkParsers(ctx context.Context, cfg *config.Agent, logger *slog.Logger) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i := range cfg.Plugins {
		diags = append(diags, checkPlugin(ctx, &cfg.Plugins[i], logger)...)
	}
	for i := range cfg.Sources {
		src := &cfg.Sources[i]
		if pl, ok := cfg.Plugin(src.Parser); ok {
			if hasSettings(src.ParserConfig) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "parser_config of a plugin",
					Detail: fmt.Sprintf("source %q: parser %q is a plugin, which takes its settings from the config of its plugin block (%s); move them there",
						src.Name, src.Parser, pl.DeclRange),
					Subject: rangePtr(src.ParserConfigRange)})
			}
			continue // the plugin block is checked above
		}
		p, ok := builtin.New(src.Parser)
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid parser",
				Detail: fmt.Sprintf("unknown parser %q: not a built-in parser (%s) nor the label of a plugin block",
					src.Parser, strings.Join(builtin.Names(), ", ")),
				Subject: rangePtr(src.ParserRange)})
			continue
		}
		pd, err := p.ValidateConfig(ctx, src.ParserConfig)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Parser failed",
				Detail: fmt.Sprintf("parser %q could not validate its configuration: %v", src.Parser, err), Subject: rangePtr(src.ParserRange)})
			continue
		}
		diags = append(diags, parserDiagnostics(pd, "parser_config", src.ParserConfigRange)...)
	}
	return diags
}

// checkPlugin starts a plugin block's command, which checks its handshake
// and protocol version, and has it validate the block's config.
func checkPlugin(ctx context.Context, pl *config.Plugin, logger *slog.Logger) hcl.Diagnostics {
	if _, ok := builtin.New(pl.Name); ok {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Plugin label taken",
			Detail:  fmt.Sprintf("plugin %q: the label is the name of a built-in parser, so a source could not name this plugin; choose another label", pl.Name),
			Subject: rangePtr(pl.DeclRange)}}
	}
	h, err := openPlugin(ctx, pl, logger)
	if err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Plugin failed to start",
			Detail: err.Error(), Subject: rangePtr(pl.CommandRange)}}
	}
	defer h.Close()
	pd, err := h.ValidateConfig(ctx, pl.Config)
	if err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Plugin failed",
			Detail:  fmt.Sprintf("plugin %q could not validate its config: %v", pl.Name, err),
			Subject: rangePtr(pl.ConfigRange)}}
	}
	return parserDiagnostics(pd, "config", pl.ConfigRange)
}

// parserDiagnostics turns a parser's diagnostics about its configuration
// (the attribute attr) into HCL ones at rng.
func parserDiagnostics(pd plugins.Diagnostics, attr string, rng hcl.Range) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, d := range pd {
		sev := hcl.DiagError
		if d.Severity == plugins.SeverityWarning {
			sev = hcl.DiagWarning
		}
		detail := d.Detail
		if d.Attribute != "" {
			detail = strings.TrimSpace(fmt.Sprintf("%s.%s: %s", attr, d.Attribute, detail))
		}
		diags = append(diags, &hcl.Diagnostic{Severity: sev, Summary: d.Summary, Detail: detail, Subject: rangePtr(rng)})
	}
	return diags
}

// hasSettings reports whether a configuration object sets anything.
func hasSettings(c json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(c, &m) != nil || len(m) > 0
}

func rangePtr(r hcl.Range) *hcl.Range {
	if r.Filename == "" {
		return nil
	}
	return &r
}

// openPlugin starts the plugin of a plugin block; its command is already
// absolute (config resolves it against the config file's folder).
func openPlugin(ctx context.Context, pl *config.Plugin, logger *slog.Logger) (*pluginhost.Host, error) {
	return pluginhost.Open(ctx, pluginhost.Options{
		Name:    pl.Name,
		Command: pl.Command,
		Args:    pl.Args,
		Timeout: pl.Timeout,
		Logger:  logger,
	})
}

// configuredParser returns the source's parser, configured: a built-in, or
// for a plugin label a running plugin of its own (a *pluginhost.Host,
// configured with the plugin block's config). A parser that is an
// io.Closer must be closed once the source is done with it (closeParser):
// that stops the plugin process.
// A plugin's own log lines go to logger.
func configuredParser(ctx context.Context, cfg *config.Agent, src *config.Source, logger *slog.Logger) (plugins.Parser, error) {
	if pl, ok := cfg.Plugin(src.Parser); ok {
		h, err := openPlugin(ctx, pl, logger.With("source", src.Name))
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", src.Name, err)
		}
		if err := configure(ctx, h, pl.Config, fmt.Sprintf("plugin %q of source %q", pl.Name, src.Name)); err != nil {
			h.Close()
			return nil, err
		}
		return h, nil
	}
	p, ok := builtin.New(src.Parser)
	if !ok {
		return nil, fmt.Errorf("source %q: unknown parser %q: not a built-in parser (%s) nor the label of a plugin block",
			src.Name, src.Parser, strings.Join(builtin.Names(), ", "))
	}
	if err := configure(ctx, p, src.ParserConfig, fmt.Sprintf("parser %q of source %q", src.Parser, src.Name)); err != nil {
		return nil, err
	}
	return p, nil
}

func configure(ctx context.Context, p plugins.Parser, c json.RawMessage, what string) error {
	diags, err := p.Configure(ctx, c)
	if err != nil {
		return fmt.Errorf("configure %s: %w", what, err)
	}
	for _, d := range diags {
		if d.Severity == plugins.SeverityError {
			return fmt.Errorf("configure %s: %s: %s", what, d.Summary, d.Detail)
		}
	}
	return nil
}

// closeParser releases a parser from configuredParser: a plugin's process
// is stopped. Built-ins hold nothing.
func closeParser(p plugins.Parser) error {
	if c, ok := p.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
