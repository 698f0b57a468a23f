package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"github.com/zclconf/go-cty/cty/gocty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// maxFileFunctionBytes bounds what file("path") reads.
const maxFileFunctionBytes = 1 << 20

// state says what evaluating an optional argument produced.
type state uint8

const (
	unset   state = iota // absent, or null: the default applies
	set                  // a valid value was stored
	invalid              // an error diagnostic was recorded
)

// decoder evaluates argument expressions and collects diagnostics.
type decoder struct {
	lookupEnv func(string) (string, bool)
	ctxs      map[string]*hcl.EvalContext // by file name
	diags     hcl.Diagnostics
}

func newDecoder(lookupEnv func(string) (string, bool)) *decoder {
	return &decoder{lookupEnv: lookupEnv, ctxs: map[string]*hcl.EvalContext{}}
}

// evalContext returns the evaluation context of one file: file() resolves
// relative paths against that file's folder.
func (d *decoder) evalContext(filename string) *hcl.EvalContext {
	if ctx, ok := d.ctxs[filename]; ok {
		return ctx
	}
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{
		"env":       envFunc(d.lookupEnv),
		"file":      fileFunc(baseDir(filename)),
		"trimspace": stdlib.TrimSpaceFunc,
	}}
	d.ctxs[filename] = ctx
	return ctx
}

func envFunc(lookup func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable; an unset variable is an error.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			v, ok := lookup(name)
			if !ok {
				return cty.UnknownVal(cty.String), fmt.Errorf("environment variable %q is not set", name)
			}
			return cty.StringVal(v), nil
		},
	})
}

func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the contents of a UTF-8 text file; relative paths resolve against the configuration file's folder.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			s, err := readSmallFile(resolvePath(dir, args[0].AsString()))
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			return cty.StringVal(s), nil
		},
	})
}

// readSmallFile reads a regular UTF-8 file of at most maxFileFunctionBytes.
func readSmallFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err // *fs.PathError names the operation and the path
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("stat %q: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("read %q: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileFunctionBytes+1))
	if err != nil {
		return "", fmt.Errorf("read %q: %w", path, err)
	}
	if len(data) > maxFileFunctionBytes {
		return "", fmt.Errorf("read %q: larger than %d bytes", path, maxFileFunctionBytes)
	}
	if !utf8.Valid(data) {
		return "", fmt.Errorf("read %q: contents are not valid UTF-8", path)
	}
	return string(data), nil
}

// baseDir is the absolute folder of a configuration file.
func baseDir(filename string) string {
	dir := filepath.Dir(filename)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// resolvePath makes p absolute against dir unless it already is.
func resolvePath(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// resolveAt resolves p against the folder of the file that holds rng.
func resolveAt(rng hcl.Range, p string) string {
	return resolvePath(baseDir(rng.Filename), p)
}

func (d *decoder) errorf(rng hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  rng.Ptr(),
	})
}

func (d *decoder) warnf(rng hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  rng.Ptr(),
	})
}

// eval evaluates expr and converts the result to ty. A null result is unset.
func (d *decoder) eval(expr hcl.Expression, name string, ty cty.Type) (cty.Value, state) {
	v, diags := expr.Value(d.evalContext(expr.Range().Filename))
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, invalid
	}
	if v.IsNull() {
		return cty.NilVal, unset
	}
	if !v.IsWhollyKnown() {
		d.errorf(expr.Range(), "Invalid value", "The value of %q is not known.", name)
		return cty.NilVal, invalid
	}
	if ty == cty.DynamicPseudoType {
		return v, set
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.errorf(expr.Range(), "Incorrect attribute value type", "Inappropriate value for attribute %q: %s.", name, err)
		return cty.NilVal, invalid
	}
	return cv, set
}

// str decodes a string argument into dst.
func (d *decoder) str(attrs hcl.Attributes, name string, dst *string) state {
	attr, ok := attrs[name]
	if !ok {
		return unset
	}
	v, st := d.eval(attr.Expr, name, cty.String)
	if st == set {
		*dst = v.AsString()
	}
	return st
}

// nonEmptyStr decodes a string argument that must not be empty.
func (d *decoder) nonEmptyStr(attrs hcl.Attributes, name string, dst *string) state {
	var s string
	st := d.str(attrs, name, &s)
	if st != set {
		return st
	}
	if strings.TrimSpace(s) == "" {
		d.errorf(attrs[name].Expr.Range(), "Invalid value", "The argument %q must not be empty.", name)
		return invalid
	}
	*dst = s
	return set
}

// address decodes a host:port argument.
func (d *decoder) address(attrs hcl.Attributes, name string, dst *string) state {
	var s string
	st := d.str(attrs, name, &s)
	if st != set {
		return st
	}
	if err := checkAddress(s); err != nil {
		d.errorf(attrs[name].Expr.Range(), "Invalid address", "invalid address %q for %s: %v", s, name, err)
		return invalid
	}
	*dst = s
	return set
}

func checkAddress(s string) error {
	if _, port, err := net.SplitHostPort(s); err != nil {
		return fmt.Errorf("want host:port: %w", err)
	} else if port == "" {
		return fmt.Errorf("want host:port: missing port")
	}
	return nil
}

func (d *decoder) boolean(attrs hcl.Attributes, name string, dst *bool) state {
	attr, ok := attrs[name]
	if !ok {
		return unset
	}
	v, st := d.eval(attr.Expr, name, cty.Bool)
	if st == set {
		*dst = v.True()
	}
	return st
}

// integer decodes a whole number that is at least min.
func (d *decoder) integer(attrs hcl.Attributes, name string, min int64, dst *int64) state {
	attr, ok := attrs[name]
	if !ok {
		return unset
	}
	v, st := d.eval(attr.Expr, name, cty.Number)
	if st != set {
		return st
	}
	var n int64
	if err := gocty.FromCtyValue(v, &n); err != nil {
		d.errorf(attr.Expr.Range(), "Invalid number", "invalid value for %s: %v", name, err)
		return invalid
	}
	if n < min {
		d.errorf(attr.Expr.Range(), "Invalid number", "invalid value %d for %s: must be at least %d", n, name, min)
		return invalid
	}
	*dst = n
	return set
}

// intArg decodes a whole number that is at least min and fits an int.
func (d *decoder) intArg(attrs hcl.Attributes, name string, min int64, dst *int) state {
	var n int64
	st := d.integer(attrs, name, min, &n)
	if st != set {
		return st
	}
	if int64(int(n)) != n {
		d.errorf(attrs[name].Expr.Range(), "Invalid number", "invalid value %d for %s: too large", n, name)
		return invalid
	}
	*dst = int(n)
	return set
}

// duration decodes a Go duration string; negative values are rejected, and
// zero too when positive is set.
func (d *decoder) duration(attrs hcl.Attributes, name string, positive bool, dst *time.Duration) state {
	var s string
	st := d.str(attrs, name, &s)
	if st != set {
		return st
	}
	rng := attrs[name].Expr.Range()
	dur, err := time.ParseDuration(s)
	switch {
	case err != nil:
		d.errorf(rng, "Invalid duration", "invalid duration %q for %s: %v", s, name, err)
		return invalid
	case dur < 0:
		d.errorf(rng, "Invalid duration", "invalid duration %q for %s: must not be negative", s, name)
		return invalid
	case dur == 0 && positive:
		d.errorf(rng, "Invalid duration", "invalid duration %q for %s: must be positive", s, name)
		return invalid
	}
	*dst = dur
	return set
}

// item is one string of a list together with the range to blame for it.
type item struct {
	Value string
	Range hcl.Range
}

// strList decodes a list of strings. When the expression is a literal list,
// each item keeps its own range; otherwise items share the argument's range.
func (d *decoder) strList(attrs hcl.Attributes, name string) ([]item, state) {
	attr, ok := attrs[name]
	if !ok {
		return nil, unset
	}
	tuple, literal := attr.Expr.(*hclsyntax.TupleConsExpr)
	if !literal {
		v, st := d.eval(attr.Expr, name, cty.List(cty.String))
		if st != set {
			return nil, st
		}
		var out []item
		rng := attr.Expr.Range()
		for i, ev := range v.AsValueSlice() {
			if ev.IsNull() {
				d.errorf(rng, "Invalid value", "Element %d of %q must not be null.", i, name)
				return nil, invalid
			}
			out = append(out, item{Value: ev.AsString(), Range: rng})
		}
		return out, set
	}
	out := make([]item, 0, len(tuple.Exprs))
	st := set
	for i, e := range tuple.Exprs {
		ename := fmt.Sprintf("%s[%d]", name, i)
		v, est := d.eval(e, ename, cty.String)
		switch est {
		case invalid:
			st = invalid
		case unset:
			d.errorf(e.Range(), "Invalid value", "Element %d of %q must not be null.", i, name)
			st = invalid
		default:
			out = append(out, item{Value: v.AsString(), Range: e.Range()})
		}
	}
	if st != set {
		return nil, st
	}
	return out, set
}

// strSlice decodes a list of strings without per-item ranges.
func (d *decoder) strSlice(attrs hcl.Attributes, name string, dst *[]string) state {
	items, st := d.strList(attrs, name)
	if st == set {
		*dst = values(items)
	}
	return st
}

func values(items []item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Value
	}
	return out
}

// object decodes an HCL object or map into JSON.
func (d *decoder) object(attrs hcl.Attributes, name string, dst *json.RawMessage) state {
	attr, ok := attrs[name]
	if !ok {
		return unset
	}
	v, st := d.eval(attr.Expr, name, cty.DynamicPseudoType)
	if st != set {
		return st
	}
	if ty := v.Type(); !ty.IsObjectType() && !ty.IsMapType() {
		d.errorf(attr.Expr.Range(), "Incorrect attribute value type",
			"Inappropriate value for attribute %q: an object is required, got %s.", name, ty.FriendlyName())
		return invalid
	}
	raw, err := toJSON(v)
	if err != nil {
		d.errorf(attr.Expr.Range(), "Invalid value", "encode %s as JSON: %v", name, err)
		return invalid
	}
	*dst = raw
	return set
}

// toJSON encodes v as compact JSON without HTML escaping, so that regular
// expressions such as (?P<name>…) stay readable.
func toJSON(v cty.Value) (json.RawMessage, error) {
	raw, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// rangeOf returns the range of an argument's value, or fallback when the
// argument is absent.
func rangeOf(attrs hcl.Attributes, name string, fallback hcl.Range) hcl.Range {
	if attr, ok := attrs[name]; ok {
		return attr.Expr.Range()
	}
	return fallback
}

// content decodes a nested block body against schema and checks its
// singleton blocks.
func (d *decoder) content(b *hcl.Block, schema *hcl.BodySchema, singletons ...string) *hcl.BodyContent {
	c, diags := b.Body.Content(schema)
	d.diags = append(d.diags, diags...)
	if c == nil {
		c = &hcl.BodyContent{Attributes: hcl.Attributes{}}
	}
	d.diags = append(d.diags, checkBlocks(c.Blocks, schema, singletons)...)
	return c
}
