// Command hooktail-logwriter writes realistic myk-org/github-webhook-server
// text logs (see package logwriter): live and rotating for the demo
// (-rate 20 -max-bytes 1048576), or as fast as possible for benchmarks.
//
//	hooktail-logwriter -dir DIR [-file NAME] [-seed N] [-deliveries N]
//	    [-concurrency N] [-failure-rate F] [-legacy [-tz ZONE]] [-max-bytes N]
//	    [-backups N] [-rotation rename|copytruncate] [-jsonl off|current|legacy]
//	    [-rate N] [-batch-bytes N] [-start RFC3339] [-manifest FILE]
//
// It stops after -deliveries (0: at SIGINT/SIGTERM) and prints the stats
// to stderr.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // -tz works without a system zoneinfo

	"github.com/hooktail/hooktail/examples/logwriter"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hooktail-logwriter:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		o        logwriter.Options
		tz       string
		start    string
		manifest string
		rotation string
		jsonl    string
	)
	flag.StringVar(&o.Dir, "dir", "", "log directory (required)")
	flag.StringVar(&o.File, "file", logwriter.DefaultFile, "log file name")
	flag.Int64Var(&o.Seed, "seed", 1, "random seed")
	flag.IntVar(&o.Deliveries, "deliveries", 0, "deliveries to write (0 = until interrupted)")
	flag.IntVar(&o.Concurrency, "concurrency", logwriter.DefaultConcurrency, "deliveries interleaved at once")
	flag.Float64Var(&o.FailureRate, "failure-rate", logwriter.DefaultFailureRate, "share of failed deliveries (negative = none)")
	flag.BoolVar(&o.Legacy, "legacy", false, "write the 4.0.x format (naive timestamps, task markers)")
	flag.StringVar(&tz, "tz", "UTC", "IANA zone of -legacy's naive timestamps")
	flag.Int64Var(&o.MaxBytes, "max-bytes", 0, "rotate like RotatingFileHandler at this size (0 = never)")
	flag.IntVar(&o.Backups, "backups", logwriter.DefaultBackups, "rotated files kept")
	flag.StringVar(&rotation, "rotation", logwriter.RotateRename.String(), "how -max-bytes rotates: rename (RotatingFileHandler) or copytruncate (logrotate)")
	flag.StringVar(&jsonl, "jsonl", logwriter.JSONLOff.String(), "also write webhooks_YYYY-MM-DD.json: off, current (4.1.0: log_entry and webhook_summary lines) or legacy (summaries as before 2026-03-15)")
	flag.IntVar(&o.Rate, "rate", 0, "records per second (0 = as fast as possible)")
	flag.IntVar(&o.BatchBytes, "batch-bytes", 64<<10, "with -rate 0, gather whole records into writes of up to this size (0 = one write per record)")
	flag.StringVar(&start, "start", "", "simulated start time, RFC 3339 (default: now)")
	flag.StringVar(&manifest, "manifest", "", "write the JSON-lines manifest to this file")
	flag.Parse()
	if o.Dir == "" || flag.NArg() > 0 {
		flag.Usage()
		return errors.New("-dir is required and no arguments are accepted")
	}
	if o.FailureRate == 0 {
		o.FailureRate = -1 // an explicit 0 means no failures
	}
	var err error
	if o.Rotation, err = logwriter.ParseRotationMethod(rotation); err != nil {
		return fmt.Errorf("-rotation: %w", err)
	}
	if o.JSONL, err = logwriter.ParseJSONLMode(jsonl); err != nil {
		return fmt.Errorf("-jsonl: %w", err)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return fmt.Errorf("load -tz %q: %w", tz, err)
	}
	o.Location = loc
	if start != "" {
		t0, err := time.Parse(time.RFC3339Nano, start)
		if err != nil {
			return fmt.Errorf("parse -start: %w", err)
		}
		o.Clock = func() time.Time { return t0 }
	}
	var bw *bufio.Writer
	if manifest != "" {
		f, err := os.Create(manifest)
		if err != nil {
			return fmt.Errorf("create manifest: %w", err)
		}
		defer f.Close()
		if o.Rate > 0 {
			o.Manifest = f // live: every line is visible at once
		} else {
			bw = bufio.NewWriterSize(f, 256<<10)
			o.Manifest = bw
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	st, err := logwriter.Run(ctx, o)
	el := time.Since(began)
	if bw != nil {
		if ferr := bw.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("write manifest: %w", ferr)
		}
	}
	fmt.Fprintf(os.Stderr, "hooktail-logwriter: %d records (%d duplicates dropped), %d deliveries (%d failed), %d rotations, %d bytes in %d writes, %s, %.0f records/s\n",
		st.Records, st.Duplicates, st.Deliveries, st.Failed, st.Rotations, st.Bytes, st.Writes, el.Round(time.Millisecond),
		float64(st.Records)/el.Seconds())
	if o.JSONL != logwriter.JSONLOff {
		fmt.Fprintf(os.Stderr, "hooktail-logwriter: JSONL: %d log_entry and %d webhook_summary lines in %d files\n",
			st.JSONLEntries, st.JSONLSummaries, st.JSONLFiles)
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
