// Command testplugin is the parser plugin the pluginhost tests drive. With
// -builtin NAME it serves that built-in parser; without, a "LEVEL|message"
// parser that records tell to misbehave:
//
//	CRASH          panic (the process dies)
//	HANG           block forever, deaf to cancellation
//	ONCE:name      crash the first time only (a marker file in once_dir)
//	HANGONCE:name  hang the first time only
//	SHORT          answer one entry less than there are records
//	BADUTF8        return invalid UTF-8 in the entry's message
//	TAG            put the configured tag in the entry's message
//
// Configuration keys: tag (string), once_dir (string), log (a message to
// log when configured); any other key is refused. -protocol N serves
// another protocol version; -not-a-plugin prints text and exits.
// TESTPLUGIN_CPUPROFILE=FILE writes the plugin's CPU profile there, to
// profile the plugin's side of BenchmarkParse.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"

	"github.com/hashicorp/go-plugin"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/builtin"
)

type config struct {
	Tag     string `json:"tag"`
	OnceDir string `json:"once_dir"`
	Log     string `json:"log"`
}

type faulty struct {
	mu  sync.Mutex
	cfg config
}

func (*faulty) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: "testplugin", StartPattern: `^[A-Z]+\|`}, nil
}

func (*faulty) ValidateConfig(_ context.Context, raw json.RawMessage) (plugins.Diagnostics, error) {
	_, ds := decode(raw)
	return ds, nil
}

func decode(raw json.RawMessage) (config, plugins.Diagnostics) {
	var c config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, plugins.Diagnostics{{Severity: plugins.SeverityError, Summary: "invalid testplugin configuration", Detail: err.Error()}}
	}
	return c, nil
}

func (p *faulty) Configure(_ context.Context, raw json.RawMessage) (plugins.Diagnostics, error) {
	c, ds := decode(raw)
	if ds.HasErrors() {
		return ds, nil
	}
	if c.Log != "" {
		slog.Info("testplugin configured", "note", c.Log)
	}
	p.mu.Lock()
	p.cfg = c
	p.mu.Unlock()
	return nil, nil
}

func (p *faulty) Parse(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	p.mu.Lock()
	c := p.cfg
	p.mu.Unlock()
	short := false
	for _, r := range req.Records {
		d := r.Data
		switch {
		case bytes.Contains(d, []byte("HANGONCE:")) && first(c, d, "HANGONCE:"):
			select {}
		case bytes.Contains(d, []byte("ONCE:")) && !bytes.Contains(d, []byte("HANGONCE:")) && first(c, d, "ONCE:"):
			panic("testplugin: crash once on " + string(d))
		case bytes.Contains(d, []byte("CRASH")):
			panic("testplugin: poisoned record " + string(d))
		case bytes.Contains(d, []byte("HANG")) && !bytes.Contains(d, []byte("HANGONCE:")):
			select {}
		}
		short = short || bytes.Contains(d, []byte("SHORT"))
		level, msg, ok := bytes.Cut(d, []byte("|"))
		e := plugins.Entry{Level: string(level), Message: string(msg)}
		if !ok {
			e = plugins.RawEntry(d)
		}
		if bytes.Contains(d, []byte("TAG")) {
			e.Message = "tag=" + c.Tag
		}
		if bytes.Contains(d, []byte("BADUTF8")) {
			e.Message = "bad \xff"
		}
		dst = append(dst, e)
	}
	if short {
		dst = dst[:len(dst)-1]
	}
	return dst, nil
}

// first reports whether the marker named after prefix in d is new, and
// creates it.
func first(c config, d []byte, prefix string) bool {
	_, name, _ := bytes.Cut(d, []byte(prefix))
	if i := bytes.IndexAny(name, " |\n"); i >= 0 {
		name = name[:i]
	}
	f, err := os.OpenFile(filepath.Join(c.OnceDir, prefix[:len(prefix)-1]+"-"+string(name)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

func main() {
	name := flag.String("builtin", "", "serve this built-in parser")
	protocol := flag.Int("protocol", plugins.ProtocolVersion, "serve this protocol version")
	notPlugin := flag.Bool("not-a-plugin", false, "print text and exit, as a wrong command would")
	flag.Parse()
	if *notPlugin {
		fmt.Println("hello, I am not a plugin")
		return
	}
	var p plugins.Parser = &faulty{}
	if *name != "" {
		var ok bool
		if p, ok = builtin.New(*name); !ok {
			fmt.Fprintf(os.Stderr, "testplugin: no built-in parser %q\n", *name)
			os.Exit(2)
		}
	}
	if *protocol != plugins.ProtocolVersion {
		cfg := plugins.ServeConfig(p)
		cfg.ProtocolVersion = uint(*protocol)
		plugin.Serve(cfg)
		return
	}
	if path := os.Getenv("TESTPLUGIN_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	plugins.Serve(p)
}
