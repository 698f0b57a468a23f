// Package builtin is the registry of the parsers compiled into the agent.
package builtin

import (
	"slices"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/webhookserver"
)

var constructors = map[string]func() plugins.Parser{
	webhookserver.Name: func() plugins.Parser { return webhookserver.New() },
}

// New returns a new, unconfigured instance of the built-in parser name.
func New(name string) (plugins.Parser, bool) {
	c, ok := constructors[name]
	if !ok {
		return nil, false
	}
	return c(), true
}

// Names lists the built-in parsers, sorted.
func Names() []string {
	names := make([]string, 0, len(constructors))
	for n := range constructors {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
