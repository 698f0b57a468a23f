// Package config loads, defaults and validates the HCL configuration of the
// hooktail agent and aggregator (SPEC §3).
//
// A configuration path is either one .hcl file or a directory whose *.hcl
// files are merged in name order: a top-level argument may be set in only one
// file, labelled blocks (source, plugin, api_key) accumulate and must have
// unique labels, and singleton blocks (aggregator, redact, metrics, listen)
// may appear once overall.
//
// Domain code never sees HCL: LoadAgent and LoadAggregator return plain Go
// structs with every default applied, every duration parsed and every
// relative path resolved against the folder of the file that declared it.
// The structs keep hcl.Range values (DeclRange and some per-argument ranges)
// so that callers can report later semantic errors as file:line:col.
//
// Expressions may call three functions:
//
//	env("NAME")       the value of an environment variable; unset is an error
//	file("path")      the contents of a regular UTF-8 file of at most 1 MiB,
//	                  relative to the folder of the configuration file
//	trimspace(s)      s without leading and trailing white space
//
// Every problem is reported as an hcl.Diagnostic; loading collects all of
// them rather than stopping at the first, and never panics on any input.
// WriteDiagnostics prints them one per line as
// "file:line:col: error: summary; detail".
package config
