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

	"github.com/hooktail/hooktail/agent/pipeline"
	"github.com/hooktail/hooktail/agent/positions"
	"github.com/hooktail/hooktail/agent/redact"
	"github.com/hooktail/hooktail/agent/ship"
	"github.com/hooktail/hooktail/agent/tail"
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

func runAgent(ctx context.Context, cfg *config.Agent, logger *slog.Logger) error {
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

	sources := make([]pipeline.Source, 0, len(cfg.Sources))
	for i := range cfg.Sources {
		src := &cfg.Sources[i]
		p, err := configuredParser(ctx, cfg, src)
		if err != nil {
			return err
		}
		sources = append(sources, pipeline.Source{
			Name:     src.Name,
			Parser:   p,
			Location: src.Location,
			Tail: tail.Options{
				Paths:          src.Paths,
				Exclude:        src.Exclude,
				StartAtEnd:     src.StartAt == config.StartAtEnd,
				MaxRecordBytes: src.MaxRecordBytes,
				RescanInterval: src.RescanInterval,
			},
		})
	}
	logger.Info("agent starting", "version", version, "sources", len(sources), "aggregator", cfg.Aggregator.Addresses)
	err = pipeline.Run(ctx, pipeline.Options{
		Sources:         sources,
		Pusher:          client,
		Checkpoints:     checkpoints,
		Redactor:        redact.New(cfg.Redact.Patterns),
		BatchMaxEntries: cfg.Aggregator.BatchMaxEntries,
		BatchMaxWait:    cfg.Aggregator.BatchMaxWait,
		Logger:          logger,
	})
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
