package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// otherVersion answers Describe with another protocol version.
type otherVersion struct {
	hooktailv1.UnimplementedParserServer
}

func (otherVersion) Describe(context.Context, *hooktailv1.DescribeRequest) (*hooktailv1.DescribeResponse, error) {
	return &hooktailv1.DescribeResponse{Name: "future", ProtocolVersion: ProtocolVersion + 1}, nil
}

func TestDescribeOtherProtocolVersion(t *testing.T) {
	conn, server := plugin.TestGRPCConn(t, func(s *grpc.Server) { hooktailv1.RegisterParserServer(s, otherVersion{}) })
	defer server.Stop()
	defer conn.Close()
	_, err := newGRPCClient(conn).Describe(t.Context())
	if !errors.Is(err, ErrContract) || !strings.Contains(err.Error(), `parser "future" speaks parser protocol 2`) {
		t.Errorf("Describe: error %v, want ErrContract naming both versions", err)
	}
}

// TestUnavailable: a plugin that went away is ErrUnavailable, which its
// host answers with a restart.
func TestUnavailable(t *testing.T) {
	conn, server := plugin.TestGRPCConn(t, func(s *grpc.Server) { s.RegisterService(&parserServiceDesc, newGRPCServer(nil)) })
	defer conn.Close()
	server.Stop()
	c := newGRPCClient(conn)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := c.Parse(ctx, &ParseRequest{Records: []Record{{Data: []byte("x")}}}, nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Parse on a stopped plugin: error %v, want ErrUnavailable", err)
	}
	if _, err := c.Describe(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Describe on a stopped plugin: error %v, want ErrUnavailable", err)
	}
}

// TestLogHandler: a plugin's slog lines are what go-plugin's host reads as
// structured entries.
func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(newLogHandler(&buf))
	l.Debug("d", "k", 1)
	l.Log(context.Background(), slog.LevelDebug-4, "t")
	l.Info("i", slog.Group("g", "level", "not the level"))
	l.Warn("w")
	l.Error("e", "error", errors.New("boom"))
	want := []string{"debug", "trace", "info", "warn", "error"}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if m["@level"] != want[i] {
			t.Errorf("line %q: @level=%v, want %q", line, m["@level"], want[i])
		}
		if _, ok := m["@message"].(string); !ok {
			t.Errorf("line %q: no @message", line)
		}
		ts, _ := m["@timestamp"].(string)
		if _, err := time.Parse(pluginTimeFormat, ts); err != nil {
			t.Errorf("line %q: @timestamp go-plugin cannot read: %v", line, err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; ok {
				t.Errorf("line %q: key %q left, go-plugin would show it as an attribute", line, k)
			}
		}
	}
	if !strings.Contains(lines[2], `"g":{"level":"not the level"}`) {
		t.Errorf("a grouped attribute was renamed: %s", lines[2])
	}
}

// upper is a parser that upper-cases each record.
type upper struct{}

func (upper) Describe(context.Context) (Description, error) { return Description{Name: "upper"}, nil }
func (upper) ValidateConfig(context.Context, json.RawMessage) (Diagnostics, error) {
	return nil, nil
}
func (upper) Configure(context.Context, json.RawMessage) (Diagnostics, error) { return nil, nil }
func (upper) Parse(_ context.Context, req *ParseRequest, dst []Entry) ([]Entry, error) {
	for _, r := range req.Records {
		dst = append(dst, Entry{Message: strings.ToUpper(string(r.Data))})
	}
	return dst, nil
}

// TestDefaultGRPCServer: served by a gRPC server without ServeConfig's
// codec (go-plugin's own test helper here), Parse still works: its
// messages are legacy proto messages to gRPC's proto codec.
func TestDefaultGRPCServer(t *testing.T) {
	client, _ := plugin.TestPluginGRPCConn(t, false, PluginSet(upper{}))
	defer client.Close() // which stops the server: a second Stop would race with it
	raw, err := client.Dispense(PluginName)
	if err != nil {
		t.Fatalf("Dispense: %v", err)
	}
	got, err := raw.(Parser).Parse(t.Context(), &ParseRequest{Records: []Record{{Data: []byte("a")}, {Data: []byte("b")}}}, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(got) != 2 || got[0].Message != "A" || got[1].Message != "B" {
		t.Errorf("Parse = %+v", got)
	}
}
