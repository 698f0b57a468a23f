package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hooktail/hooktail/agent/metrics"
	"github.com/hooktail/hooktail/agent/pipeline"
	"github.com/hooktail/hooktail/agent/positions"
	"github.com/hooktail/hooktail/agent/redact"
	"github.com/hooktail/hooktail/agent/ship"
	"github.com/hooktail/hooktail/config"
)

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hooktail-agent validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration `PATH`: an .hcl file or a directory of them")
	if err := fs.Parse(args); err != nil {
		return config.ErrUsage
	}
	if *configPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: hooktail-agent validate -config PATH")
		return config.ErrUsage
	}
	cfg, err := load(*configPath, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid (%d sources)\n", *configPath, len(cfg.Sources))
	return nil
}

// runAgent runs the agent with cfg, loaded from path, until ctx is done.
// Every signal on hup reloads path (see reload.go).
func runAgent(ctx context.Context, path string, cfg *config.Agent, hup <-chan os.Signal, logger *slog.Logger) error {
	logger = logger.With("agent_id", cfg.AgentID)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data_dir: %w", err)
	}
	checkpoints, err := positions.Open(filepath.Join(cfg.DataDir, "checkpoints.json"), logger)
	if err != nil {
		return fmt.Errorf("open checkpoints: %w", err)
	}
	tlsConfig, err := clientTLS(cfg.Aggregator.TLS)
	if err != nil {
		return err
	}
	client, err := ship.New(ship.Options{
		Addresses: cfg.Aggregator.Addresses,
		Token:     cfg.Aggregator.Token,
		TLS:       tlsConfig,
		AgentID:   cfg.AgentID,
		Logger:    logger,
	})
	if err != nil {
		return err
	}
	defer client.Close()

	redactor := redact.New(cfg.Redact.Patterns)
	p, err := pipeline.New(pipeline.Options{
		Pusher:          client,
		Checkpoints:     checkpoints,
		Redactor:        redactor,
		BatchMaxEntries: cfg.Aggregator.BatchMaxEntries,
		BatchMaxWait:    cfg.Aggregator.BatchMaxWait,
		Logger:          logger,
	})
	if err != nil {
		return err
	}
	// A parser lives until the pipeline releases its source, or until the
	// agent returns: past ctx, which the shutdown cancels first.
	parsersCtx, stopParsers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopParsers()
	sources := newSourceSet(parsersCtx, logger)
	all, fresh, err := sources.build(cfg)
	if err != nil {
		return err
	}
	if err := p.SetSources(ctx, all); err != nil {
		release(fresh)
		return err
	}
	sources.commit(all)

	reloads := newReloadMetrics()
	if cfg.Metrics != nil {
		reg, err := newRegistry(p, client, redactor, checkpoints, reloads)
		if err != nil {
			return err
		}
		ready := &metrics.Readiness{Pipeline: p, Shipper: client}
		srv, err := startMetricsServer(cfg.Metrics.Listen, metrics.NewHandler(metrics.HandlerOptions{
			Gatherer: reg, Ready: ready.Ready, Logger: logger,
		}), logger)
		if err != nil {
			return err
		}
		// After the pipeline: /metrics and /readyz answer during the
		// final flush.
		defer srv.shutdown()
	}

	r := &reloader{path: path, running: cfg, pipeline: p, sources: sources, redactor: redactor, logger: logger, onResult: reloads.result}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		r.watch(watchCtx, hup)
	}()

	logger.Info("agent starting", "version", version, "sources", len(all), "aggregator", cfg.Aggregator.Addresses)
	stopLog := context.AfterFunc(ctx, func() {
		logger.Info("stopping: pushing what is already parsed, then writing the checkpoints")
	})
	defer stopLog()
	err = p.Run(ctx)
	stopWatch()
	<-watched
	logger.Info("agent stopped")
	return err
}

func clientTLS(c *config.ClientTLS) (*tls.Config, error) {
	if c == nil {
		return nil, nil
	}
	t := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read aggregator ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("aggregator ca_file " + c.CAFile + ": no PEM certificate found")
		}
		t.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load aggregator client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}
