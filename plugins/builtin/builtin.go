// Package builtin is the registry of the parsers compiled into the agent:
// github-webhook-server, and the generic json, logfmt and regex parsers,
// which map any structured log onto entries through parser_config (see
// package fieldmap for the settings they share).
package builtin

import (
	"slices"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/jsonparser"
	"github.com/hooktail/hooktail/plugins/logfmt"
	"github.com/hooktail/hooktail/plugins/regex"
	"github.com/hooktail/hooktail/plugins/webhookserver"
)

var constructors = map[string]func() plugins.Parser{
	webhookserver.Name: func() plugins.Parser { return webhookserver.New() },
	jsonparser.Name:    func() plugins.Parser { return jsonparser.New() },
	logfmt.Name:        func() plugins.Parser { return logfmt.New() },
	regex.Name:         func() plugins.Parser { return regex.New() },
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
