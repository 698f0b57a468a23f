package pluginhost_test

import (
	"encoding/json"
	"testing"

	"github.com/hooktail/hooktail/agent/pluginhost"
	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/builtin"
	"github.com/hooktail/hooktail/plugins/plugintest"
)

// TestContract runs the parser contract suite through a Host: the test
// plugin's own parser, and every built-in served by a real plugin process.
func TestContract(t *testing.T) {
	t.Run("testplugin", func(t *testing.T) {
		plugintest.Run(t, func(t *testing.T) plugins.Parser {
			h, _ := open(t, pluginhost.Options{})
			return h
		}, plugintest.Options{
			Records:    [][]byte{[]byte("INFO|hello"), []byte("ERROR|failed\nTraceback (most recent call last):\n  boom")},
			BadConfigs: []json.RawMessage{json.RawMessage(`{"no_such_key": true}`)},
		})
	})
	for _, name := range builtin.Names() {
		t.Run(name, func(t *testing.T) {
			plugintest.Run(t, func(t *testing.T) plugins.Parser {
				h, _ := open(t, pluginhost.Options{Args: []string{"-builtin", name}})
				return h
			}, builtinOptions[name])
		})
	}
}

// builtinOptions are the suite's options for built-ins that need a
// configuration to parse at all.
var builtinOptions = map[string]plugintest.Options{
	"regex": {
		Config:     json.RawMessage(`{"pattern": "^(?P<timestamp>\\S+) (?P<level>[A-Z]+) (?P<message>.*)$"}`),
		BadConfigs: []json.RawMessage{json.RawMessage(`{"pattern": "(unclosed"}`)},
	},
}
