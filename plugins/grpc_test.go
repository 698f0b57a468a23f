package plugins_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/plugintest"
)

// fakeParser answers Parse with what its parse func makes of the records.
type fakeParser struct {
	parse func(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error)
}

func (fakeParser) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: "fake", LinePerRecordFiles: []string{"*.json"}}, nil
}

func (fakeParser) ValidateConfig(_ context.Context, c json.RawMessage) (plugins.Diagnostics, error) {
	if string(c) == `{"fail":true}` {
		return nil, errors.New("validation exploded")
	}
	return plugins.Diagnostics{{Severity: plugins.SeverityWarning, Summary: "got " + string(c), Attribute: "x"}}, nil
}

func (p fakeParser) Configure(ctx context.Context, c json.RawMessage) (plugins.Diagnostics, error) {
	return p.ValidateConfig(ctx, c)
}

func (p fakeParser) Parse(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
	return p.parse(ctx, req, dst)
}

// echo makes one entry per record, the record as the message.
func echo(_ context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
	for _, r := range req.Records {
		dst = append(dst, plugins.Entry{Message: string(r.Data), Level: "INFO", LoggerName: req.Location.String()})
	}
	return dst, nil
}

func records(data ...string) []plugins.Record {
	out := make([]plugins.Record, len(data))
	for i, d := range data {
		out[i] = plugins.Record{Data: []byte(d), File: "/l/a.log", Offset: int64(i * 100)}
	}
	return out
}

func TestGRPCConfigAndDescribe(t *testing.T) {
	p := plugintest.GRPC(t, fakeParser{parse: echo})
	d, err := p.Describe(t.Context())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if diff := cmp.Diff(plugins.Description{Name: "fake", LinePerRecordFiles: []string{"*.json"}}, d); diff != "" {
		t.Errorf("Describe (-want +got):\n%s", diff)
	}
	cfg := json.RawMessage(`{"pattern": "^(?P<level>\\w+)", "n": [1, 2.5, null]}`)
	for name, call := range map[string]func(context.Context, json.RawMessage) (plugins.Diagnostics, error){
		"ValidateConfig": p.ValidateConfig, "Configure": p.Configure,
	} {
		ds, err := call(t.Context(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := plugins.Diagnostics{{Severity: plugins.SeverityWarning, Summary: "got " + string(cfg), Attribute: "x"}}
		if diff := cmp.Diff(want, ds); diff != "" {
			t.Errorf("%s: the configuration did not arrive as it was (-want +got):\n%s", name, diff)
		}
		_, err = call(t.Context(), json.RawMessage(`{"fail":true}`))
		if err == nil || !strings.Contains(err.Error(), "validation exploded") || errors.Is(err, plugins.ErrUnavailable) {
			t.Errorf("%s: error %v, want the plugin's own message", name, err)
		}
	}
}

func TestGRPCParseLocation(t *testing.T) {
	p := plugintest.GRPC(t, fakeParser{parse: echo})
	for _, zone := range []string{"UTC", "Asia/Jerusalem", "America/New_York"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Skipf("no zone database: %v", err)
		}
		got, err := p.Parse(t.Context(), &plugins.ParseRequest{Records: records("a"), Location: loc}, nil)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if got[0].LoggerName != zone {
			t.Errorf("the plugin read timestamps in %q, want %q", got[0].LoggerName, zone)
		}
	}
}

// TestGRPCEdge: what a plugin returns is checked where it enters the agent.
func TestGRPCEdge(t *testing.T) {
	ctx := t.Context()
	t.Run("not one entry per record", func(t *testing.T) {
		for name, n := range map[string]int{"fewer": -1, "more": +1, "none": -3} {
			p := plugintest.GRPC(t, fakeParser{parse: func(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
				dst, _ = echo(ctx, req, dst)
				if n > 0 {
					return append(dst, plugins.Entry{Message: "extra \xff"}), nil
				}
				return dst[:max(len(dst)+n, 0)], nil
			}})
			dst := []plugins.Entry{{Message: "kept"}}
			got, err := p.Parse(ctx, &plugins.ParseRequest{Records: records("a", "b", "c")}, dst)
			if !errors.Is(err, plugins.ErrContract) {
				t.Errorf("%s: error %v, want ErrContract", name, err)
			}
			if len(got) != 1 || got[0].Message != "kept" {
				t.Errorf("%s: dst changed on error: %+v", name, got)
			}
		}
	})
	t.Run("entries that cannot be shipped go raw", func(t *testing.T) {
		p := plugintest.GRPC(t, fakeParser{parse: func(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
			dst, _ = echo(ctx, req, dst)
			dst[len(dst)-3].Repository = "bad \xff utf-8"
			dst[len(dst)-2].TimestampUS = plugins.MaxTimestampUS + 1
			dst[len(dst)-1].Completion = &plugins.Completion{Steps: []plugins.Step{{Name: "s", StartedAtUS: plugins.MinTimestampUS - 1}}}
			return dst, nil
		}})
		got, err := p.Parse(ctx, &plugins.ParseRequest{Records: records("good", "utf \xfe record", "time record", "step record")}, nil)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		want := []plugins.Entry{
			{Message: "good", Level: "INFO", LoggerName: "UTC"},
			{Message: "utf \uFFFD record", ParseError: true},
			{Message: "time record", ParseError: true},
			{Message: "step record", ParseError: true},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("entries (-want +got):\n%s", diff)
		}
	})
	t.Run("parser error", func(t *testing.T) {
		p := plugintest.GRPC(t, fakeParser{parse: func(context.Context, *plugins.ParseRequest, []plugins.Entry) ([]plugins.Entry, error) {
			return nil, errors.New("cannot work at all")
		}})
		_, err := p.Parse(ctx, &plugins.ParseRequest{Records: records("a")}, nil)
		if err == nil || !strings.Contains(err.Error(), "cannot work at all") || errors.Is(err, plugins.ErrUnavailable) || errors.Is(err, plugins.ErrContract) {
			t.Errorf("error %v, want the parser's own", err)
		}
	})
}

// TestGRPCLargeBatch: gRPC's 4 MiB default must not refuse an ordinary
// 8 MiB batch, nor a record as large as max_record_bytes allows.
func TestGRPCLargeBatch(t *testing.T) {
	p := plugintest.GRPC(t, fakeParser{parse: echo})
	for name, sizes := range map[string][]int{
		"9 MiB batch of 1 MiB records": {1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20},
		"one 24 MiB record":            {24 << 20},
	} {
		var recs []plugins.Record
		for i, n := range sizes {
			recs = append(recs, plugins.Record{Data: bytes.Repeat([]byte{'a' + byte(i)}, n)})
		}
		got, err := p.Parse(t.Context(), &plugins.ParseRequest{Records: recs}, nil)
		if err != nil {
			t.Fatalf("%s: Parse: %v", name, err)
		}
		if len(got) != len(recs) {
			t.Fatalf("%s: %d entries for %d records", name, len(got), len(recs))
		}
		for i := range got {
			if got[i].Message != string(recs[i].Data) {
				t.Errorf("%s: entry %d does not hold its record", name, i)
			}
		}
	}
}

// TestGRPCCancel: cancelling the context mid-call reaches the plugin, and
// the call returns the context's error.
func TestGRPCCancel(t *testing.T) {
	started, stopped := make(chan struct{}), make(chan error, 1)
	p := plugintest.GRPC(t, fakeParser{parse: func(ctx context.Context, _ *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
		close(started)
		<-ctx.Done()
		stopped <- ctx.Err()
		return dst, ctx.Err()
	}})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-started
		cancel()
	}()
	_, err := p.Parse(ctx, &plugins.ParseRequest{Records: records("a")}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Parse: error %v, want context.Canceled", err)
	}
	if err := <-stopped; !errors.Is(err, context.Canceled) {
		t.Errorf("the plugin's context: %v, want cancelled", err)
	}
}

// TestGRPCChunkedBatch: a large batch goes out in parts at once; the
// answer keeps the records' order, and one bad part fails the whole batch.
func TestGRPCChunkedBatch(t *testing.T) {
	var data []string
	for i := range 3001 {
		data = append(data, strings.Repeat("x", i%7)+string(rune('a'+i%26))+" record "+strings.Repeat("#", i%3)+" "+string(rune(0x4e00+i)))
	}
	recs := records(data...)
	p := plugintest.GRPC(t, fakeParser{parse: echo})
	dst := []plugins.Entry{{Message: "kept"}}
	got, err := p.Parse(t.Context(), &plugins.ParseRequest{Records: recs}, dst)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(got) != 1+len(recs) || got[0].Message != "kept" {
		t.Fatalf("Parse: %d entries, first %q", len(got), got[0].Message)
	}
	for i, e := range got[1:] {
		if e.Message != data[i] {
			t.Fatalf("entry %d holds %q, want record %d %q", i, e.Message, i, data[i])
		}
	}

	for name, bad := range map[string]func(*plugins.ParseRequest, []plugins.Entry) ([]plugins.Entry, error){
		"short part": func(req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
			return dst[:len(dst)-1], nil
		},
		"failing part": func(*plugins.ParseRequest, []plugins.Entry) ([]plugins.Entry, error) {
			return nil, errors.New("this part cannot be parsed")
		},
	} {
		p := plugintest.GRPC(t, fakeParser{parse: func(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
			dst, _ = echo(ctx, req, dst)
			for _, r := range req.Records { // the part holding the middle record
				if string(r.Data) == data[len(data)/2] {
					return bad(req, dst)
				}
			}
			return dst, nil
		}})
		got, err := p.Parse(t.Context(), &plugins.ParseRequest{Records: recs}, []plugins.Entry{{Message: "kept"}})
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if len(got) != 1 || got[0].Message != "kept" {
			t.Errorf("%s: dst changed on error: %d entries", name, len(got))
		}
	}
}
