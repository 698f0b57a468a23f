package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Loader loads configuration files and keeps the parsed files of its last
// load, so that callers can render diagnostics with source snippets (for
// example with hcl.NewDiagnosticTextWriter). The zero value is ready to use
// and reads the real environment and host name. A Loader is not safe for
// concurrent use; use one per goroutine (or the package-level functions).
type Loader struct {
	// LookupEnv resolves env("NAME") calls. Nil means os.LookupEnv.
	LookupEnv func(name string) (value string, ok bool)
	// Hostname supplies the default agent_id. Nil means os.Hostname.
	Hostname func() (string, error)

	files map[string]*hcl.File
}

// LoadAgent loads the agent configuration at path with a fresh Loader.
// See Loader.LoadAgent.
func LoadAgent(path string) (*Agent, hcl.Diagnostics) {
	return new(Loader).LoadAgent(path)
}

// LoadAggregator loads the aggregator configuration at path with a fresh
// Loader. See Loader.LoadAggregator.
func LoadAggregator(path string) (*Aggregator, hcl.Diagnostics) {
	return new(Loader).LoadAggregator(path)
}

// Files returns the files parsed by the last load, keyed by the file name
// used in diagnostic ranges. The map must not be modified.
func (l *Loader) Files() map[string]*hcl.File {
	return l.files
}

func (l *Loader) lookupEnv() func(string) (string, bool) {
	if l.LookupEnv != nil {
		return l.LookupEnv
	}
	return os.LookupEnv
}

func (l *Loader) hostname() (string, error) {
	if l.Hostname != nil {
		return l.Hostname()
	}
	return os.Hostname()
}

// layout describes how the top-level bodies of several files are merged.
type layout struct {
	schema *hcl.BodySchema
	// singletons are block types that may appear once overall.
	singletons []string
}

// merged is the union of the top-level content of every configuration file.
type merged struct {
	files  []string
	attrs  hcl.Attributes
	blocks hcl.Blocks
	// ranges covers each file's whole body, in load order.
	ranges []hcl.Range
	// declared holds every top-level block type written, even those whose
	// header is invalid, so that "missing block" errors do not follow
	// "missing label" ones.
	declared map[string]bool
}

// load reads, parses and merges the configuration at path. It returns nil
// when a file cannot be read or parsed, so that syntax errors are not
// followed by confusing follow-up errors.
func (l *Loader) load(path string, lay layout) (*merged, hcl.Diagnostics) {
	l.files = map[string]*hcl.File{}
	names, diags := configFiles(path)
	if diags.HasErrors() {
		return nil, diags
	}
	var parsed []*hcl.File
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			diags = append(diags, fileError(name, "Cannot read configuration file", err.Error()))
			continue
		}
		f, pdiags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
		diags = append(diags, pdiags...)
		if f != nil {
			l.files[name] = f
			diags = append(diags, checkNumbers(f)...)
		}
		parsed = append(parsed, f)
	}
	if diags.HasErrors() {
		return nil, diags
	}

	m := &merged{files: names, attrs: hcl.Attributes{}, declared: map[string]bool{}}
	for _, f := range parsed {
		if b, ok := f.Body.(*hclsyntax.Body); ok {
			for _, blk := range b.Blocks {
				m.declared[blk.Type] = true
			}
		}
		content, cdiags := f.Body.Content(lay.schema)
		diags = append(diags, cdiags...)
		if content == nil {
			continue
		}
		m.ranges = append(m.ranges, bodyRange(f))
		for _, name := range sortedAttrNames(content.Attributes) {
			attr := content.Attributes[name]
			if prev, dup := m.attrs[name]; dup {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate argument",
					Detail: fmt.Sprintf("The argument %q was already set at %s; a top-level argument may be set in only one file.",
						name, posString(prev.NameRange)),
					Subject: attr.NameRange.Ptr(),
					Context: attr.Range.Ptr(),
				})
				continue
			}
			m.attrs[name] = attr
		}
		m.blocks = append(m.blocks, content.Blocks...)
	}
	diags = append(diags, checkBlocks(m.blocks, lay.schema, lay.singletons)...)
	return m, diags
}

// checkNumbers rejects number literals outside the float64 range: turning
// such a number into a string (as HCL does for string arguments and
// templates) formats every one of its digits, which can take minutes.
func checkNumbers(f *hcl.File) hcl.Diagnostics {
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	var diags hcl.Diagnostics
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		lit, ok := n.(*hclsyntax.LiteralValueExpr)
		if !ok || lit.Val.Type() != cty.Number || lit.Val.IsNull() || !lit.Val.IsKnown() {
			return nil
		}
		bf := lit.Val.AsBigFloat()
		if x, _ := bf.Float64(); math.IsInf(x, 0) || (x == 0 && bf.Sign() != 0) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Number out of range",
				Detail:   "Numbers must lie within the range of a 64-bit float.",
				Subject:  lit.SrcRange.Ptr(),
			})
		}
		return nil
	})
	return diags
}

// configFiles lists the files that make up the configuration at path.
func configFiles(path string) ([]string, hcl.Diagnostics) {
	if path == "" {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No configuration path",
			Detail:   "A configuration file or directory is required.",
		}}
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, hcl.Diagnostics{fileError(path, "Cannot read configuration", err.Error())}
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, hcl.Diagnostics{fileError(path, "Cannot read configuration directory", err.Error())}
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".hcl") {
			continue
		}
		name := filepath.Join(path, e.Name())
		// Stat follows symbolic links (Kubernetes mounts ConfigMaps as links).
		if fst, err := os.Stat(name); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, hcl.Diagnostics{fileError(name, "Cannot read configuration file", err.Error())}
			}
			continue
		} else if !fst.Mode().IsRegular() {
			continue
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, hcl.Diagnostics{fileError(path, "No configuration files",
			fmt.Sprintf("The directory %q contains no *.hcl files.", path))}
	}
	slices.Sort(names)
	return names, nil
}

// fileError is a diagnostic about a whole file or directory: its Subject
// names the path but no position.
func fileError(path, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  &hcl.Range{Filename: path},
	}
}

// bodyRange is the range of a file's body, or its first position.
func bodyRange(f *hcl.File) hcl.Range {
	if b, ok := f.Body.(*hclsyntax.Body); ok {
		return b.SrcRange
	}
	return f.Body.MissingItemRange()
}

// checkBlocks reports singleton blocks that appear more than once, labelled
// blocks whose labels repeat, and empty labels. It is used for the merged
// top level and for every nested body.
func checkBlocks(blocks hcl.Blocks, schema *hcl.BodySchema, singletons []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	labelled := map[string]bool{}
	for _, bs := range schema.Blocks {
		labelled[bs.Type] = len(bs.LabelNames) > 0
	}
	seen := map[string]*hcl.Block{}
	for _, b := range blocks {
		var key string
		switch {
		case slices.Contains(singletons, b.Type):
			key = b.Type
			if prev, dup := seen[key]; dup {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Duplicate %s block", b.Type),
					Detail: fmt.Sprintf("The %s block was already declared at %s; only one is allowed.",
						b.Type, posString(prev.DefRange)),
					Subject: b.DefRange.Ptr(),
				})
				continue
			}
		case labelled[b.Type] && len(b.Labels) > 0:
			if strings.TrimSpace(b.Labels[0]) == "" {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Invalid %s name", b.Type),
					Detail:   fmt.Sprintf("The label of a %s block must not be empty.", b.Type),
					Subject:  b.LabelRanges[0].Ptr(),
				})
				continue
			}
			key = b.Type + "\x00" + b.Labels[0]
			if prev, dup := seen[key]; dup {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Duplicate %s block", b.Type),
					Detail: fmt.Sprintf("The %s block labelled %q was already declared at %s; labels must be unique.",
						b.Type, b.Labels[0], posString(prev.DefRange)),
					Subject: b.DefRange.Ptr(),
				})
				continue
			}
		default:
			continue
		}
		seen[key] = b
	}
	return diags
}

// blocksOfType returns the blocks of one type, in declaration order.
func blocksOfType(blocks hcl.Blocks, typ string) hcl.Blocks {
	var out hcl.Blocks
	for _, b := range blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// firstBlock returns the first block of a type, or nil.
func firstBlock(blocks hcl.Blocks, typ string) *hcl.Block {
	for _, b := range blocks {
		if b.Type == typ {
			return b
		}
	}
	return nil
}

// uniqueLabelled returns the blocks of one type without those whose label is
// empty or repeats an earlier one (checkBlocks has reported them).
func uniqueLabelled(blocks hcl.Blocks, typ string) hcl.Blocks {
	var out hcl.Blocks
	seen := map[string]bool{}
	for _, b := range blocksOfType(blocks, typ) {
		if len(b.Labels) == 0 || strings.TrimSpace(b.Labels[0]) == "" || seen[b.Labels[0]] {
			continue
		}
		seen[b.Labels[0]] = true
		out = append(out, b)
	}
	return out
}

func sortedAttrNames(attrs hcl.Attributes) []string {
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// posString renders the start of a range as file:line:col.
func posString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// sortDiagnostics orders diagnostics by file and position; those without a
// subject come first. The order of files is the load order.
func sortDiagnostics(diags hcl.Diagnostics, files []string) {
	rank := func(d *hcl.Diagnostic) (int, int) {
		if d.Subject == nil {
			return -1, 0
		}
		i := slices.Index(files, d.Subject.Filename)
		if i < 0 {
			i = len(files)
		}
		return i, d.Subject.Start.Byte
	}
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		fa, pa := rank(a)
		fb, pb := rank(b)
		if c := cmp.Compare(fa, fb); c != 0 {
			return c
		}
		return cmp.Compare(pa, pb)
	})
}
