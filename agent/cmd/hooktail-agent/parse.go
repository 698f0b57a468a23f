package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/pipeline"
	"github.com/hooktail/hooktail/agent/redact"
	"github.com/hooktail/hooktail/agent/tail"
	"github.com/hooktail/hooktail/config"
	"github.com/hooktail/hooktail/plugins"
)

// cmdParse is a dry run: it frames and parses a file (or stdin) the way the
// source would and prints the entries as JSON lines, shipping nothing.
func cmdParse(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hooktail-agent parse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration `PATH`: an .hcl file or a directory of them")
	sourceName := fs.String("source", "", "the source `NAME` whose parser and settings to use")
	if err := fs.Parse(args); err != nil {
		return config.ErrUsage
	}
	if *configPath == "" || *sourceName == "" || fs.NArg() > 1 {
		fmt.Fprintln(stderr, "usage: hooktail-agent parse -config PATH -source NAME [FILE]")
		return config.ErrUsage
	}
	cfg, err := load(*configPath, stderr)
	if err != nil {
		return err
	}
	src, ok := cfg.Source(*sourceName)
	if !ok {
		names := make([]string, 0, len(cfg.Sources))
		for _, s := range cfg.Sources {
			names = append(names, s.Name)
		}
		return fmt.Errorf("no source %q in %s (sources: %v)", *sourceName, *configPath, names)
	}
	ctx := context.Background()
	// The dry run's stdout is the entries: a plugin's log lines go to stderr.
	p, err := configuredParser(ctx, cfg, src, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer closeParser(p)
	isStart, err := pipeline.StartRule(ctx, p)
	if err != nil {
		return err
	}
	in, path := stdin, "-"
	if fs.NArg() == 1 {
		path = fs.Arg(0)
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		defer f.Close()
		in = f
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	// The same parse, truncation marks and redaction as the pipeline: the
	// dry run shows what would be shipped.
	parser := &pipeline.Parser{Source: src.Name, Parser: p, Location: src.Location, Redactor: redact.New(cfg.Redact.Patterns)}
	return tail.FrameReader(in, tail.FrameOptions{IsStart: isStart(path), MaxRecordBytes: src.MaxRecordBytes}, func(records []agent.Record) error {
		for i := range records {
			records[i].Path = path
		}
		entries, err := parser.Parse(ctx, records)
		if err != nil {
			return fmt.Errorf("parse: %w", err)
		}
		for i := range entries {
			e := &entries[i]
			if err := enc.Encode(jsonEntry(e.Source, e.Path, e.Offset, &e.Parsed)); err != nil {
				return err
			}
		}
		return nil
	})
}

// jsonEntry is the dry run's output form of an entry.
func jsonEntry(source, file string, offset int64, e *plugins.Entry) map[string]any {
	m := map[string]any{
		"source": source, "file": file, "offset": offset,
		"timestamp": e.TimestampRaw, "level": e.Level, "message": e.Message,
	}
	if e.TimestampUS != 0 {
		m["timestamp_utc"] = time.UnixMicro(e.TimestampUS).UTC().Format(time.RFC3339Nano)
	}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("logger_name", e.LoggerName)
	set("hook_id", e.HookID)
	set("event_type", e.EventType)
	set("repository", e.Repository)
	set("github_user", e.GithubUser)
	set("task_id", e.TaskID)
	set("task_type", e.TaskType)
	set("task_status", e.TaskStatus)
	set("step", e.Step)
	set("exc_info", e.ExcInfo)
	if e.PRNumber != 0 {
		m["pr_number"] = e.PRNumber
	}
	if e.TokenSpend != nil {
		m["token_spend"] = *e.TokenSpend
	}
	if e.ParseError {
		m["parse_error"] = true
	}
	if e.Truncated {
		m["truncated"] = true
	}
	if len(e.Details) > 0 {
		m["details"] = e.Details
	}
	if e.Completion != nil {
		m["completion"] = e.Completion
	}
	return m
}
