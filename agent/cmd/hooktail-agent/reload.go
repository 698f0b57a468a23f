package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hooktail/hooktail/agent/pipeline"
	"github.com/hooktail/hooktail/agent/redact"
	"github.com/hooktail/hooktail/agent/tail"
	"github.com/hooktail/hooktail/config"
)

// A SIGHUP reloads the configuration file (SPEC §3). An invalid file is
// logged with its diagnostics and changes nothing. A valid one is applied
// to what can change live: the sources (see pipeline.Pipeline.SetSources:
// unchanged ones keep running, changed ones are drained and restarted,
// removed ones drained) and the redact patterns (for the batches parsed
// from then on). The rest — agent_id, data_dir, the aggregator block and
// the metrics block — needs a restart: a change there is logged and
// ignored.

// sourceSet turns the configuration's sources into pipeline sources,
// reusing the running ones whose configuration did not change, so that
// their parsers are not started again.
type sourceSet struct {
	// ctx is the parent of the parsers' contexts: a parser's context is
	// cancelled when the pipeline releases its source (Source.Done).
	ctx     context.Context
	logger  *slog.Logger
	current map[string]pipeline.Source
}

func newSourceSet(ctx context.Context, logger *slog.Logger) *sourceSet {
	return &sourceSet{ctx: ctx, logger: logger, current: make(map[string]pipeline.Source)}
}

// build returns the pipeline sources of cfg, and the ones it created (new
// or changed): the caller releases those (release) if the pipeline refuses
// them, else hands them over with commit.
func (s *sourceSet) build(cfg *config.Agent) (all, fresh []pipeline.Source, err error) {
	for i := range cfg.Sources {
		src := &cfg.Sources[i]
		hash := sourceHash(cfg, src)
		if cur, ok := s.current[src.Name]; ok && cur.ConfigHash == hash {
			all = append(all, cur)
			continue
		}
		ctx, cancel := context.WithCancel(s.ctx)
		p, err := configuredParser(ctx, cfg, src, s.logger)
		if err != nil {
			cancel()
			release(fresh)
			return nil, nil, err
		}
		name := src.Name
		ps := pipeline.Source{
			Name:       src.Name,
			Parser:     p,
			Location:   src.Location,
			ConfigHash: hash,
			// The pipeline is done with the parser: an out-of-process one
			// is stopped.
			Done: func() {
				cancel()
				if c, ok := p.(io.Closer); ok {
					if err := c.Close(); err != nil {
						s.logger.Warn("stop parser", "source", name, "error", err)
					}
				}
			},
			Tail: tail.Options{
				Paths:          src.Paths,
				Exclude:        src.Exclude,
				StartAtEnd:     src.StartAt == config.StartAtEnd,
				MaxRecordBytes: src.MaxRecordBytes,
				RescanInterval: src.RescanInterval,
			},
		}
		all = append(all, ps)
		fresh = append(fresh, ps)
	}
	return all, fresh, nil
}

// commit records sources as the ones the pipeline runs.
func (s *sourceSet) commit(sources []pipeline.Source) {
	s.current = make(map[string]pipeline.Source, len(sources))
	for _, src := range sources {
		s.current[src.Name] = src
	}
}

// release releases sources the pipeline never took.
func release(sources []pipeline.Source) {
	for _, src := range sources {
		src.Done()
	}
}

// sourceHash identifies a source's configuration: the source block, and
// the plugin block its parser names, if any, without their positions in
// the files (moving a block is no change).
func sourceHash(cfg *config.Agent, src *config.Source) string {
	doc := map[string]any{"source": canonical(reflect.ValueOf(*src))}
	if p, ok := cfg.Plugin(src.Parser); ok {
		doc["plugin"] = canonical(reflect.ValueOf(*p))
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic("BUG: canonical configuration does not marshal: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

var (
	rangeType    = reflect.TypeFor[hcl.Range]()
	locationType = reflect.TypeFor[*time.Location]()
	regexpType   = reflect.TypeFor[*regexp.Regexp]()
	rawJSONType  = reflect.TypeFor[json.RawMessage]()
)

// canonical returns v as plain values for JSON, without hcl.Range fields
// and with locations and regular expressions as their text, so that equal
// configurations written at other places compare equal. Every exported
// field counts, so a field added to the configuration later counts too.
func canonical(v reflect.Value) any {
	switch v.Type() {
	case locationType:
		if v.IsNil() {
			return nil
		}
		return v.Interface().(*time.Location).String()
	case regexpType:
		if v.IsNil() {
			return nil
		}
		return v.Interface().(*regexp.Regexp).String()
	case rawJSONType:
		var buf bytes.Buffer
		if err := json.Compact(&buf, v.Bytes()); err != nil {
			return string(v.Bytes())
		}
		return buf.String()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return canonical(v.Elem())
	case reflect.Struct:
		m := make(map[string]any)
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Type == rangeType {
				continue
			}
			m[f.Name] = canonical(v.Field(i))
		}
		return m
	case reflect.Slice, reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = canonical(v.Index(i))
		}
		return out
	case reflect.Map:
		m := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			m[fmt.Sprint(it.Key().Interface())] = canonical(it.Value())
		}
		return m
	}
	return v.Interface()
}

// restartOnly lists the settings a reload cannot apply whose value in next
// differs from the running configuration's.
func restartOnly(running, next *config.Agent) []string {
	var changed []string
	if running.AgentID != next.AgentID {
		changed = append(changed, "agent_id")
	}
	if running.DataDir != next.DataDir {
		changed = append(changed, "data_dir")
	}
	if !reflect.DeepEqual(canonical(reflect.ValueOf(running.Aggregator)), canonical(reflect.ValueOf(next.Aggregator))) {
		changed = append(changed, "aggregator")
	}
	if !reflect.DeepEqual(canonical(reflect.ValueOf(running.Metrics)), canonical(reflect.ValueOf(next.Metrics))) {
		changed = append(changed, "metrics")
	}
	return changed
}

// reloader applies the configuration file to the running agent on SIGHUP.
type reloader struct {
	path     string
	running  *config.Agent
	pipeline *pipeline.Pipeline
	sources  *sourceSet
	redactor *redact.Redactor
	logger   *slog.Logger
	// onResult, if set, is told how each reload ended.
	onResult func(ok bool)
}

// watch reloads on every signal from hup until ctx is done.
func (r *reloader) watch(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			ok := r.reload(ctx)
			if r.onResult != nil {
				r.onResult(ok)
			}
		}
	}
}

// reload reads the configuration again and applies it, or logs why it
// cannot and changes nothing. It reports whether it applied it.
func (r *reloader) reload(ctx context.Context) bool {
	r.logger.Info("reloading the configuration", "config", r.path)
	var diags bytes.Buffer
	cfg, err := load(r.path, &diags)
	text := strings.TrimSpace(diags.String())
	if err != nil {
		if !errors.Is(err, errReported) {
			text = strings.TrimSpace(text + "\n" + err.Error())
		}
		r.logger.Error("configuration reload failed; the running configuration is kept", "config", r.path, "diagnostics", text)
		return false
	}
	if text != "" {
		r.logger.Warn("configuration has warnings", "config", r.path, "diagnostics", text)
	}
	for _, setting := range restartOnly(r.running, cfg) {
		r.logger.Warn("configuration change needs a restart; ignored until then", "config", r.path, "setting", setting)
	}

	before := r.sources.current
	all, fresh, err := r.sources.build(cfg)
	if err != nil {
		r.logger.Error("configuration reload failed; the running configuration is kept", "config", r.path, "error", err)
		return false
	}
	if err := r.pipeline.SetSources(ctx, all); err != nil {
		release(fresh)
		r.logger.Error("configuration reload failed; the running configuration is kept", "config", r.path, "error", err)
		return false
	}
	r.sources.commit(all)
	r.pipeline.SetRedactor(r.redactor.WithPatterns(cfg.Redact.Patterns))

	var added, changed, removed []string
	for _, src := range fresh {
		if _, ok := before[src.Name]; ok {
			changed = append(changed, src.Name)
		} else {
			added = append(added, src.Name)
		}
	}
	for name := range before {
		if _, ok := r.sources.current[name]; !ok {
			removed = append(removed, name)
		}
	}
	slices.Sort(removed)
	r.logger.Info("configuration reloaded", "config", r.path, "sources", len(all),
		"added", added, "changed", changed, "removed", removed, "redact_patterns", len(cfg.Redact.Patterns))
	return true
}
