package jsonparser_test

import (
	"flag"
	"testing"
	_ "time/tzdata" // timezone.txt cases must not depend on the host's zoneinfo

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/internal/parsertest"
	"github.com/hooktail/hooktail/plugins/jsonparser"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected.jsonl from the parser's output")

func newParser() plugins.Parser { return jsonparser.New() }

// TestGolden parses testdata/<case>/input.log with the case's config.json
// and timezone.txt, framed by the parser's start rule, and compares the
// entries with expected.jsonl. Run with -update to rewrite the expected
// files, then review the diff by hand.
func TestGolden(t *testing.T) {
	parsertest.Golden(t, newParser, *update)
}
