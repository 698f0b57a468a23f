package plugins

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Serve serves p as a parser plugin over go-plugin gRPC and returns when
// the agent stops the plugin; a plugin's main is this one call:
//
//	func main() { plugins.Serve(myparser.New()) }
//
// Run by hand, without the agent's handshake, it says so and exits 1.
// Logs go to stderr as JSON lines the agent re-emits in its own log:
// Serve makes slog's default logger write there, so a plugin logs with
// slog.Info and friends. Nothing may be written to stdout before Serve:
// stdout carries the handshake.
func Serve(p Parser) {
	stderr := os.Stderr // go-plugin redirects os.Stderr once serving
	slog.SetDefault(slog.New(newLogHandler(stderr)))
	cfg := ServeConfig(p)
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: stderr, JSONFormat: true, Level: hclog.Debug})
	plugin.Serve(cfg)
}

// ServeConfig is the go-plugin configuration Serve runs p with. Tests set
// its Test field to serve p inside the test process.
func ServeConfig(p Parser) *plugin.ServeConfig {
	return &plugin.ServeConfig{
		HandshakeConfig: HandshakeConfig(),
		Plugins:         PluginSet(p),
		GRPCServer:      newGRPCServerWithLimits,
	}
}

// newGRPCServerWithLimits is a gRPC server that takes batches up to
// MaxMessageBytes, both ways, with the transport sized for them.
func newGRPCServerWithLimits(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.InitialWindowSize(windowBytes), grpc.InitialConnWindowSize(windowBytes),
		grpc.ReadBufferSize(ioBufferBytes), grpc.WriteBufferSize(ioBufferBytes),
		grpc.ForceServerCodecV2(newWireCodec(&bufferPool{})))
	return grpc.NewServer(opts...)
}

// The transport between the agent and a plugin: one local connection
// carrying batches of megabytes. Flow-control windows this large let a
// whole batch go without waiting for window updates, and larger buffers
// take fewer system calls.
const (
	windowBytes   = 16 << 20
	ioBufferBytes = 256 << 10
)

// DialOptions are the gRPC options of the agent's side of a plugin
// connection (go-plugin's ClientConfig.GRPCDialOptions): the message limit
// and transport sizes that match the plugin's server.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithInitialWindowSize(windowBytes), grpc.WithInitialConnWindowSize(windowBytes),
		grpc.WithReadBufferSize(ioBufferBytes), grpc.WithWriteBufferSize(ioBufferBytes),
	}
}

// pluginTimeFormat is the time layout go-plugin reads in a plugin's JSON
// log lines; a line with any other layout is re-emitted as unparsed text.
const pluginTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// newLogHandler writes slog records as the JSON lines go-plugin's host
// reads from a plugin's stderr: @timestamp, @level (trace, debug, info,
// warn, error) and @message, then the attributes.
func newLogHandler(w io.Writer) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug - 4,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				if t, ok := a.Value.Any().(time.Time); ok {
					return slog.String("@timestamp", t.Format(pluginTimeFormat))
				}
			case slog.LevelKey:
				if l, ok := a.Value.Any().(slog.Level); ok {
					return slog.String("@level", levelName(l))
				}
			case slog.MessageKey:
				return slog.Attr{Key: "@message", Value: a.Value}
			}
			return a
		},
	})
}

// levelName is the hclog name of an slog level.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}
