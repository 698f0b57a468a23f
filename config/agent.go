package config

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Agent defaults (SPEC §3).
const (
	DefaultAgentDataDir      = "/var/lib/hooktail/agent"
	DefaultAggregatorAddress = "127.0.0.1:7400"
	DefaultBatchMaxEntries   = 2000
	DefaultBatchMaxWait      = 200 * time.Millisecond
	DefaultParser            = "github-webhook-server"
	DefaultTimezone          = "UTC"
	DefaultMaxRecordBytes    = 1 << 20
	// MaxMaxRecordBytes bounds max_record_bytes: a batch holding one such
	// record must still fit a gRPC message.
	MaxMaxRecordBytes     = 64 << 20
	DefaultRescanInterval = 10 * time.Second
	DefaultPluginTimeout  = 10 * time.Second
	DefaultMetricsListen  = "127.0.0.1:7402"
)

// Agent is the configuration of hooktail-agent, with defaults applied.
type Agent struct {
	// AgentID identifies this agent (agent_id); the host name by default.
	AgentID string
	// DataDir holds the checkpoints (data_dir); absolute.
	DataDir string
	// Aggregator is where entries are shipped; the defaults when the
	// aggregator block is absent (DeclRange is then zero).
	Aggregator AggregatorClient
	// Sources are the source blocks in declaration order (files in name
	// order); there is at least one.
	Sources []Source
	// Plugins are the plugin blocks in declaration order.
	Plugins []Plugin
	// Redact holds the extra redaction patterns (none when absent).
	Redact Redact
	// Metrics is nil when the metrics block is absent.
	Metrics *Metrics
	// Files are the configuration files read, in load order.
	Files []string
}

// Source returns the source with the given name.
func (a *Agent) Source(name string) (*Source, bool) {
	for i := range a.Sources {
		if a.Sources[i].Name == name {
			return &a.Sources[i], true
		}
	}
	return nil, false
}

// Plugin returns the plugin with the given name.
func (a *Agent) Plugin(name string) (*Plugin, bool) {
	for i := range a.Plugins {
		if a.Plugins[i].Name == name {
			return &a.Plugins[i], true
		}
	}
	return nil, false
}

// AggregatorClient is the agent's aggregator block.
type AggregatorClient struct {
	// Address is the first (preferred) gRPC ingest address, Addresses[0].
	Address string
	// Addresses is the failover list: address first, then addresses,
	// without duplicates. It always holds at least Address.
	Addresses []string
	// Token is the optional ingest bearer token ("" for none).
	Token string
	// TLS is nil when the tls block is absent (plain text).
	TLS *ClientTLS
	// BatchMaxEntries caps the entries of one batch (batch_max_entries).
	BatchMaxEntries int
	// BatchMaxWait caps how long a batch waits to fill (batch_max_wait);
	// zero sends at once.
	BatchMaxWait time.Duration
	// DeclRange is the block header; zero when the block is absent.
	DeclRange hcl.Range
	// AddressRange is the range of address (or addresses), else DeclRange.
	AddressRange hcl.Range
}

// ClientTLS is the tls block of the agent's aggregator block. File paths
// are absolute.
type ClientTLS struct {
	CAFile             string
	CertFile           string
	KeyFile            string
	ServerName         string
	InsecureSkipVerify bool
	DeclRange          hcl.Range
}

// StartAt says where to start reading a file never seen before.
type StartAt string

// The values of start_at.
const (
	StartAtBeginning StartAt = "beginning"
	StartAtEnd       StartAt = "end"
)

// Source is one source "NAME" block: a set of log files and their parser.
type Source struct {
	// Name is the block label: the source, service and endpoint name.
	Name string
	// Paths are absolute glob patterns (at least one), syntactically valid
	// for filepath.Match.
	Paths []string
	// Exclude are absolute glob patterns of files to skip.
	Exclude []string
	// Parser is a built-in parser name or a plugin label; the config
	// package does not know the built-ins, so the agent checks it and
	// blames ParserRange.
	Parser string
	// ParserConfig is parser_config as JSON; "{}" when absent.
	ParserConfig json.RawMessage
	// Timezone is the IANA name of Location, for naive timestamps.
	Timezone string
	// Location is the loaded Timezone; never nil.
	Location *time.Location
	// StartAt is where to start a file never seen before.
	StartAt StartAt
	// MaxRecordBytes caps one record; longer records are cut (> 0).
	MaxRecordBytes int
	// RescanInterval is the period of the discovery rescan (> 0).
	RescanInterval time.Duration

	// DeclRange is the block header.
	DeclRange hcl.Range
	// PathsRange is the range of paths.
	PathsRange hcl.Range
	// ParserRange is the range of parser, or DeclRange when defaulted.
	ParserRange hcl.Range
	// ParserConfigRange is the range of parser_config, or DeclRange.
	ParserConfigRange hcl.Range
}

// Plugin is one plugin "NAME" block: an out-of-process parser.
type Plugin struct {
	// Name is the block label, referenced by Source.Parser.
	Name string
	// Command is the absolute path of the plugin binary.
	Command string
	// Args are extra command-line arguments.
	Args []string
	// Config is handed to the plugin as-is, as JSON; "{}" when absent.
	Config json.RawMessage
	// Timeout bounds one batch; a hung plugin is killed and restarted.
	Timeout time.Duration

	DeclRange    hcl.Range
	CommandRange hcl.Range
	// ConfigRange is the range of config, or DeclRange when absent.
	ConfigRange hcl.Range
}

// Redact is the redact block: patterns added to the built-in rules.
type Redact struct {
	// Patterns are compiled Go regular expressions, in declaration order.
	Patterns []*regexp.Regexp
	// DeclRange is zero when the block is absent.
	DeclRange hcl.Range
}

// Metrics is the metrics block: where /metrics, /healthz and /readyz are
// served.
type Metrics struct {
	// Listen is a host:port; DefaultMetricsListen when not set.
	Listen      string
	DeclRange   hcl.Range
	ListenRange hcl.Range
}

// agentLayout is the top level of an agent file.
func agentLayout() layout {
	return layout{
		schema: &hcl.BodySchema{
			Attributes: []hcl.AttributeSchema{{Name: "agent_id"}, {Name: "data_dir"}},
			Blocks: []hcl.BlockHeaderSchema{
				{Type: "aggregator"},
				{Type: "source", LabelNames: []string{"name"}},
				{Type: "plugin", LabelNames: []string{"name"}},
				{Type: "redact"},
				{Type: "metrics"},
			},
		},
		singletons: []string{"aggregator", "redact", "metrics"},
	}
}

func aggregatorClientSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "address"}, {Name: "addresses"}, {Name: "token"},
			{Name: "batch_max_entries"}, {Name: "batch_max_wait"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "tls"}},
	}
}

func clientTLSSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "ca_file"}, {Name: "cert_file"}, {Name: "key_file"},
		{Name: "server_name"}, {Name: "insecure_skip_verify"},
	}}
}

func sourceSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "paths", Required: true}, {Name: "exclude"}, {Name: "parser"},
		{Name: "parser_config"}, {Name: "timezone"}, {Name: "start_at"},
		{Name: "max_record_bytes"}, {Name: "rescan_interval"},
	}}
}

func pluginSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "command", Required: true}, {Name: "args"}, {Name: "config"}, {Name: "timeout"},
	}}
}

// attrsSchema is a schema of optional arguments and no blocks.
func attrsSchema(names ...string) *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, n := range names {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}

// LoadAgent loads the agent configuration at path: an .hcl file, or a
// directory whose *.hcl files are merged in name order. It returns every
// diagnostic found; the Agent is nil when any of them is an error.
func (l *Loader) LoadAgent(path string) (*Agent, hcl.Diagnostics) {
	m, diags := l.load(path, agentLayout())
	if m == nil {
		return nil, diags
	}
	d := newDecoder(l.lookupEnv())
	a := &Agent{Files: m.files}

	if d.nonEmptyStr(m.attrs, "agent_id", &a.AgentID) == unset {
		host, err := l.hostname()
		if err == nil && host == "" {
			err = fmt.Errorf("empty host name")
		}
		if err != nil {
			d.errorf(firstRange(m), "Cannot determine agent_id",
				"get host name for the default agent_id: %v; set agent_id", err)
		}
		a.AgentID = host
	}
	a.DataDir = DefaultAgentDataDir
	if d.nonEmptyStr(m.attrs, "data_dir", &a.DataDir) == set {
		a.DataDir = resolveAt(m.attrs["data_dir"].Range, a.DataDir)
	}

	a.Aggregator = d.aggregatorClient(firstBlock(m.blocks, "aggregator"))
	for _, b := range uniqueLabelled(m.blocks, "source") {
		a.Sources = append(a.Sources, d.source(b))
	}
	if !m.declared["source"] {
		d.errorf(firstRange(m), "Missing source block",
			`At least one source "NAME" { paths = [...] } block is required.`)
	}
	for _, b := range uniqueLabelled(m.blocks, "plugin") {
		a.Plugins = append(a.Plugins, d.plugin(b))
	}
	if b := firstBlock(m.blocks, "redact"); b != nil {
		a.Redact = d.redact(b)
	}
	if b := firstBlock(m.blocks, "metrics"); b != nil {
		a.Metrics = d.metrics(b)
	}

	diags = append(diags, d.diags...)
	sortDiagnostics(diags, m.files)
	if diags.HasErrors() {
		return nil, diags
	}
	return a, diags
}

// firstRange is where file-level problems are reported: the start of the
// first file.
func firstRange(m *merged) hcl.Range {
	if len(m.ranges) > 0 {
		r := m.ranges[0]
		return hcl.Range{Filename: r.Filename, Start: r.Start, End: r.Start}
	}
	return hcl.Range{Filename: m.files[0], Start: hcl.InitialPos, End: hcl.InitialPos}
}

func (d *decoder) aggregatorClient(b *hcl.Block) AggregatorClient {
	c := AggregatorClient{
		Address:         DefaultAggregatorAddress,
		BatchMaxEntries: DefaultBatchMaxEntries,
		BatchMaxWait:    DefaultBatchMaxWait,
	}
	if b == nil {
		c.Addresses = []string{c.Address}
		return c
	}
	c.DeclRange, c.AddressRange = b.DefRange, b.DefRange
	body := d.content(b, aggregatorClientSchema(), "tls")
	attrs := body.Attributes

	var addrs []string
	if d.address(attrs, "address", &c.Address) == set {
		addrs = append(addrs, c.Address)
		c.AddressRange = attrs["address"].Expr.Range()
	}
	if list, st := d.strList(attrs, "addresses"); st == set {
		if len(list) == 0 && len(addrs) == 0 {
			d.errorf(attrs["addresses"].Expr.Range(), "Invalid value", "The argument %q must not be empty.", "addresses")
		}
		if _, ok := attrs["address"]; !ok {
			c.AddressRange = attrs["addresses"].Expr.Range()
		}
		for _, it := range list {
			if err := checkAddress(it.Value); err != nil {
				d.errorf(it.Range, "Invalid address", "invalid address %q for addresses: %v", it.Value, err)
				continue
			}
			if !slices.Contains(addrs, it.Value) {
				addrs = append(addrs, it.Value)
			}
		}
	}
	if len(addrs) == 0 {
		addrs = []string{c.Address}
	}
	c.Address, c.Addresses = addrs[0], addrs

	d.str(attrs, "token", &c.Token)
	d.intArg(attrs, "batch_max_entries", 1, &c.BatchMaxEntries)
	d.duration(attrs, "batch_max_wait", false, &c.BatchMaxWait)
	if tb := firstBlock(body.Blocks, "tls"); tb != nil {
		c.TLS = d.clientTLS(tb)
	}
	return c
}

func (d *decoder) clientTLS(b *hcl.Block) *ClientTLS {
	t := &ClientTLS{DeclRange: b.DefRange}
	attrs := d.content(b, clientTLSSchema()).Attributes
	for name, dst := range map[string]*string{"ca_file": &t.CAFile, "cert_file": &t.CertFile, "key_file": &t.KeyFile} {
		if d.nonEmptyStr(attrs, name, dst) == set {
			*dst = resolveAt(attrs[name].Range, *dst)
		}
	}
	d.str(attrs, "server_name", &t.ServerName)
	d.boolean(attrs, "insecure_skip_verify", &t.InsecureSkipVerify)
	if _, cert := attrs["cert_file"]; cert != (attrs["key_file"] != nil) {
		d.errorf(b.DefRange, "Incomplete client certificate",
			"cert_file and key_file must be set together.")
	}
	return t
}

func (d *decoder) source(b *hcl.Block) Source {
	s := Source{
		Name:           b.Labels[0],
		Parser:         DefaultParser,
		ParserConfig:   json.RawMessage("{}"),
		Timezone:       DefaultTimezone,
		Location:       time.UTC,
		StartAt:        StartAtBeginning,
		MaxRecordBytes: DefaultMaxRecordBytes,
		RescanInterval: DefaultRescanInterval,
		DeclRange:      b.DefRange,
	}
	attrs := d.content(b, sourceSchema()).Attributes
	s.PathsRange = rangeOf(attrs, "paths", b.DefRange)
	s.ParserRange = rangeOf(attrs, "parser", b.DefRange)
	s.ParserConfigRange = rangeOf(attrs, "parser_config", b.DefRange)

	if _, ok := attrs["paths"]; ok {
		paths, st := d.globs(attrs, "paths")
		switch {
		case st == unset:
			d.errorf(s.PathsRange, "Invalid value", "The argument %q must not be null.", "paths")
		case st == set && len(paths) == 0:
			d.errorf(s.PathsRange, "Invalid value", "The argument %q needs at least one glob.", "paths")
		}
		s.Paths = paths
	}
	s.Exclude, _ = d.globs(attrs, "exclude")
	d.nonEmptyStr(attrs, "parser", &s.Parser)
	d.object(attrs, "parser_config", &s.ParserConfig)
	if d.str(attrs, "timezone", &s.Timezone) == set {
		loc, err := time.LoadLocation(s.Timezone)
		if err != nil || s.Timezone == "" {
			if err == nil {
				err = fmt.Errorf("empty name")
			}
			d.errorf(attrs["timezone"].Expr.Range(), "Invalid timezone",
				"invalid timezone %q for source %q: %v", s.Timezone, s.Name, err)
		} else {
			s.Location = loc
		}
	}
	var startAt string
	if d.str(attrs, "start_at", &startAt) == set {
		switch StartAt(startAt) {
		case StartAtBeginning, StartAtEnd:
			s.StartAt = StartAt(startAt)
		default:
			d.errorf(attrs["start_at"].Expr.Range(), "Invalid start_at",
				`invalid start_at %q: want "beginning" or "end"`, startAt)
		}
	}
	if d.intArg(attrs, "max_record_bytes", 1, &s.MaxRecordBytes) == set && s.MaxRecordBytes > MaxMaxRecordBytes {
		d.errorf(attrs["max_record_bytes"].Expr.Range(), "Invalid number",
			"invalid value %d for max_record_bytes: at most %d (64 MiB); a larger record could never be shipped", s.MaxRecordBytes, MaxMaxRecordBytes)
	}
	d.duration(attrs, "rescan_interval", true, &s.RescanInterval)
	return s
}

// globs decodes a list of glob patterns, checks their syntax and resolves
// relative ones against the configuration file's folder.
func (d *decoder) globs(attrs hcl.Attributes, name string) ([]string, state) {
	list, st := d.strList(attrs, name)
	if st != set {
		return nil, st
	}
	out := make([]string, 0, len(list))
	for _, it := range list {
		if it.Value == "" {
			d.errorf(it.Range, "Invalid glob", "invalid glob %q in %s: empty pattern", it.Value, name)
			st = invalid
			continue
		}
		if _, err := filepath.Match(it.Value, ""); err != nil {
			d.errorf(it.Range, "Invalid glob", "invalid glob %q in %s: %v", it.Value, name, err)
			st = invalid
			continue
		}
		out = append(out, resolveAt(it.Range, it.Value))
	}
	return out, st
}

func (d *decoder) plugin(b *hcl.Block) Plugin {
	p := Plugin{
		Name:      b.Labels[0],
		Config:    json.RawMessage("{}"),
		Timeout:   DefaultPluginTimeout,
		DeclRange: b.DefRange,
	}
	attrs := d.content(b, pluginSchema()).Attributes
	p.CommandRange = rangeOf(attrs, "command", b.DefRange)
	p.ConfigRange = rangeOf(attrs, "config", b.DefRange)
	if _, ok := attrs["command"]; ok {
		if d.nonEmptyStr(attrs, "command", &p.Command) == unset {
			d.errorf(p.CommandRange, "Invalid value", "The argument %q must not be null.", "command")
		}
		if p.Command != "" {
			p.Command = resolveAt(p.CommandRange, p.Command)
		}
	}
	d.strSlice(attrs, "args", &p.Args)
	d.object(attrs, "config", &p.Config)
	d.duration(attrs, "timeout", true, &p.Timeout)
	return p
}

func (d *decoder) redact(b *hcl.Block) Redact {
	r := Redact{DeclRange: b.DefRange}
	attrs := d.content(b, attrsSchema("patterns")).Attributes
	list, _ := d.strList(attrs, "patterns")
	for _, it := range list {
		re, err := regexp.Compile(it.Value)
		if err != nil {
			d.errorf(it.Range, "Invalid regular expression", "invalid pattern %q in redact: %v", it.Value, err)
			continue
		}
		r.Patterns = append(r.Patterns, re)
	}
	return r
}

func (d *decoder) metrics(b *hcl.Block) *Metrics {
	m := &Metrics{Listen: DefaultMetricsListen, DeclRange: b.DefRange}
	attrs := d.content(b, attrsSchema("listen")).Attributes
	m.ListenRange = rangeOf(attrs, "listen", b.DefRange)
	d.address(attrs, "listen", &m.Listen)
	return m
}
