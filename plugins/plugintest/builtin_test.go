package plugintest_test

import (
	"encoding/json"
	"testing"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/builtin"
	"github.com/hooktail/hooktail/plugins/plugintest"
)

// builtinOptions are the suite's options for built-ins that need a
// configuration to parse at all; the others run with the defaults.
var builtinOptions = map[string]plugintest.Options{
	"regex": {
		Config:     json.RawMessage(`{"pattern": "^(?P<timestamp>\\S+) (?P<level>[A-Z]+) (?P<message>.*)$"}`),
		BadConfigs: []json.RawMessage{json.RawMessage(`{"pattern": "(unclosed"}`)},
	},
}

// TestBuiltins runs the contract against every built-in parser, in-process
// and over the real gRPC path of plugins.Serve: the same suite both ways.
func TestBuiltins(t *testing.T) {
	names := builtin.Names()
	if len(names) == 0 {
		t.Fatal("no built-in parsers registered")
	}
	for _, name := range names {
		newBuiltin := func(t *testing.T) plugins.Parser {
			p, ok := builtin.New(name)
			if !ok {
				t.Fatalf("builtin.New(%q): not found, though Names lists it", name)
			}
			return p
		}
		opts := builtinOptions[name]
		t.Run(name, func(t *testing.T) {
			t.Run("in-process", func(t *testing.T) {
				t.Parallel()
				plugintest.Run(t, newBuiltin, opts)
			})
			t.Run("grpc", func(t *testing.T) {
				t.Parallel()
				plugintest.Run(t, func(t *testing.T) plugins.Parser { return plugintest.GRPC(t, newBuiltin(t)) }, opts)
			})
		})
	}
}
