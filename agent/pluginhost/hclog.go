package pluginhost

import (
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// levelTrace is hclog's trace level in slog terms.
const levelTrace = slog.LevelDebug - 4

// hclogBridge is the hclog.Logger go-plugin logs through: its own messages
// and every line of the plugin's stderr (JSON lines parsed into level,
// message and attributes; other lines at debug, a panic at error) end up
// in the agent's slog logger.
type hclogBridge struct {
	base    *slog.Logger // without implied args or name
	implied []any
	name    string
	l       *slog.Logger // base with implied args and name
}

var _ hclog.Logger = (*hclogBridge)(nil)

func newHCLogBridge(l *slog.Logger) *hclogBridge {
	return &hclogBridge{base: l, l: l}
}

func (b *hclogBridge) derive(implied []any, name string) *hclogBridge {
	l := b.base.With(implied...)
	if name != "" {
		l = l.With("module", name)
	}
	return &hclogBridge{base: b.base, implied: implied, name: name, l: l}
}

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug, hclog.NoLevel:
		return slog.LevelDebug
	case hclog.Info:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (b *hclogBridge) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	b.l.Log(context.Background(), slogLevel(level), msg, args...)
}

func (b *hclogBridge) Trace(msg string, args ...any) { b.Log(hclog.Trace, msg, args...) }
func (b *hclogBridge) Debug(msg string, args ...any) { b.Log(hclog.Debug, msg, args...) }
func (b *hclogBridge) Info(msg string, args ...any)  { b.Log(hclog.Info, msg, args...) }
func (b *hclogBridge) Warn(msg string, args ...any)  { b.Log(hclog.Warn, msg, args...) }
func (b *hclogBridge) Error(msg string, args ...any) { b.Log(hclog.Error, msg, args...) }

func (b *hclogBridge) enabled(level hclog.Level) bool {
	return b.l.Enabled(context.Background(), slogLevel(level))
}

func (b *hclogBridge) IsTrace() bool { return b.enabled(hclog.Trace) }
func (b *hclogBridge) IsDebug() bool { return b.enabled(hclog.Debug) }
func (b *hclogBridge) IsInfo() bool  { return b.enabled(hclog.Info) }
func (b *hclogBridge) IsWarn() bool  { return b.enabled(hclog.Warn) }
func (b *hclogBridge) IsError() bool { return b.enabled(hclog.Error) }

func (b *hclogBridge) ImpliedArgs() []any { return b.implied }

func (b *hclogBridge) With(args ...any) hclog.Logger {
	return b.derive(append(b.implied[:len(b.implied):len(b.implied)], args...), b.name)
}

func (b *hclogBridge) Name() string { return b.name }

func (b *hclogBridge) Named(name string) hclog.Logger {
	if b.name != "" {
		name = b.name + "." + name
	}
	return b.derive(b.implied, name)
}

func (b *hclogBridge) ResetNamed(name string) hclog.Logger { return b.derive(b.implied, name) }

// SetLevel does nothing: the slog handler decides what is logged.
func (b *hclogBridge) SetLevel(hclog.Level) {}

// GetLevel is the lowest level the slog handler logs; go-plugin skips
// parsing plugin lines below it.
func (b *hclogBridge) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if b.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (b *hclogBridge) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(b.l.Handler(), slog.LevelInfo)
}

func (b *hclogBridge) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return b.StandardLogger(opts).Writer()
}
