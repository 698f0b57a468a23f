// Command hooktail-aggregator receives entries from hooktail agents over
// gRPC, stores them in SQLite and serves the log, step-log and delivery APIs.
//
//	hooktail-aggregator -config PATH             run
//	hooktail-aggregator validate -config PATH    check the configuration
//	hooktail-aggregator -version
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/hooktail/hooktail/aggregator/export"
	"github.com/hooktail/hooktail/aggregator/httpapi"
	"github.com/hooktail/hooktail/aggregator/ingest"
	"github.com/hooktail/hooktail/aggregator/sqlite"
	"github.com/hooktail/hooktail/aggregator/webui"
	"github.com/hooktail/hooktail/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// DatabaseFile is the SQLite database's name under data_dir.
const DatabaseFile = "hooktail.db"

var (
	errReported = errors.New("reported")
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var err error
	if len(args) > 0 && args[0] == "validate" {
		err = cmdValidate(args[1:], stdout, stderr)
	} else {
		err = cmdRun(args, stdout, stderr)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, config.ErrUsage):
		return 2
	default:
		if !errors.Is(err, errReported) {
			fmt.Fprintln(stderr, "hooktail-aggregator:", err)
		}
		return 1
	}
}

// loadConfig loads the configuration at path; the configuration is nil
// when diags has errors.
func loadConfig(path string) (*config.Aggregator, hcl.Diagnostics) {
	return config.LoadAggregator(path)
}

// load loads the configuration at path and writes every diagnostic to
// stderr.
func load(path string, stderr io.Writer) (*config.Aggregator, error) {
	cfg, diags := loadConfig(path)
	if len(diags) > 0 {
		if err := config.WriteDiagnostics(stderr, diags); err != nil {
			return nil, err
		}
	}
	if diags.HasErrors() {
		return nil, errReported
	}
	return cfg, nil
}

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hooktail-aggregator validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration `PATH`: an .hcl file or a directory of them")
	if err := fs.Parse(args); err != nil {
		return config.ErrUsage
	}
	if *configPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: hooktail-aggregator validate -config PATH")
		return config.ErrUsage
	}
	if _, err := load(*configPath, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid\n", *configPath)
	return nil
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	cmd := &config.RunCommand{
		Name:    "hooktail-aggregator",
		Version: version,
		Usage:   "  hooktail-aggregator -config PATH\n  hooktail-aggregator validate -config PATH\n  hooktail-aggregator -version\n",
		Run: func(ctx context.Context, path string, logger *slog.Logger) error {
			// First of all: a SIGHUP must never end the process.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			cfg, err := load(path, stderr)
			if err != nil {
				return err
			}
			return serve(ctx, cfg, logger, serveOptions{configPath: path, reload: hup})
		},
	}
	return cmd.Main(args, stdout, stderr)
}

// newGRPCServer returns the ingest gRPC server: large messages, TLS when
// configured, and a handler panic answered as Internal (and logged with
// its stack) instead of killing the process.
func newGRPCServer(tlsConfig *tls.Config, logger *slog.Logger) *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(256 << 20),
		grpc.ChainUnaryInterceptor(ingest.RecoverUnary(logger)),
	}
	if tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	return grpc.NewServer(opts...)
}

// shutdownTimeout bounds the graceful shutdown: the pushes and requests
// in flight get this long to finish before they are cut.
const shutdownTimeout = 10 * time.Second

// serveOptions are serve's options beyond the configuration.
type serveOptions struct {
	// configPath is the -config path that a value on reload re-reads.
	configPath string
	reload     <-chan os.Signal
	// wrapIngester, when set, wraps the store's ingest path (tests).
	wrapIngester func(ingest.Ingester) ingest.Ingester
}

// serve runs both listeners until ctx is done, then shuts down gracefully:
// the pushes in flight are stored and answered (for up to shutdownTimeout)
// before the database is closed.
func serve(ctx context.Context, cfg *config.Aggregator, logger *slog.Logger, opts serveOptions) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data_dir: %w", err)
	}
	var (
		tlsConfig *tls.Config
		cert      *certificate
	)
	if t := cfg.Listen.TLS; t != nil {
		var err error
		if cert, err = newCertificate(t.CertFile, t.KeyFile); err != nil {
			return err
		}
		tlsConfig = &tls.Config{GetCertificate: cert.get, MinVersion: tls.VersionTLS12}
	}
	dbPath := filepath.Join(cfg.DataDir, DatabaseFile)
	store, err := sqlite.Open(ctx, dbPath, sqlite.Options{
		DeliveryTimeout: cfg.DeliveryTimeout,
		Logger:          logger,
		Retention:       retention(cfg),
	})
	if err != nil {
		return fmt.Errorf("open database %s: %w", dbPath, err)
	}
	defer store.Close()
	exports, err := export.Open(ctx, export.Options{
		Store:  store,
		Dir:    filepath.Join(cfg.DataDir, "exports"),
		TTL:    cfg.ExportTTL,
		Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("open export jobs: %w", err)
	}
	// Deferred after store.Close, so it runs first: jobs stop (they are
	// cancelled and resume at the next start), then the store closes.
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := exports.Close(closeCtx); err != nil {
			logger.Warn("export jobs did not stop in time", "error", err)
		}
	}()

	reg, metricsHandler := newRegistry(logger)
	if err := reg.Register(newStoreCollector(store)); err != nil {
		return fmt.Errorf("register store metrics: %w", err)
	}
	page, err := webui.New()
	if err != nil {
		return err
	}
	api, err := httpapi.New(httpapi.Options{
		WebPage:         page,
		Store:           store,
		TrustedNetworks: trustedNetworks(cfg),
		TrustedProxies:  cfg.TrustedProxies,
		Logger:          logger,
		Ready:           store.Ping,
		Metrics:         metricsHandler,
		APIKeys:         apiKeys(cfg),
		Exports:         exports,
	})
	if err != nil {
		return err
	}
	var ingester ingest.Ingester = store
	if opts.wrapIngester != nil {
		ingester = opts.wrapIngester(ingester)
	}
	ingestSrv := ingest.New(ingest.Options{
		Store:           ingester,
		Tokens:          cfg.IngestTokens,
		TrustedNetworks: trustedNetworks(cfg),
		Logger:          logger,
	})
	for _, c := range []prometheus.Collector{api, ingestSrv} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	reloads := &reloader{path: opts.configPath, logger: logger, api: api, ingest: ingestSrv, store: store, cert: cert, cfg: cfg}
	httpLn, err := net.Listen("tcp", cfg.Listen.HTTP)
	if err != nil {
		return fmt.Errorf("listen http on %s: %w", cfg.Listen.HTTP, err)
	}
	if tlsConfig != nil {
		httpLn = tls.NewListener(httpLn, tlsConfig)
	}
	// No WriteTimeout: it would cut the live streams of /logs/api/stream,
	// which Shutdown ends through CloseStreams instead of waiting for them.
	httpSrv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	httpSrv.RegisterOnShutdown(api.CloseStreams)

	grpcLn, err := net.Listen("tcp", cfg.Listen.GRPC)
	if err != nil {
		httpLn.Close()
		return fmt.Errorf("listen grpc on %s: %w", cfg.Listen.GRPC, err)
	}
	grpcSrv := newGRPCServer(tlsConfig, logger)
	ingestSrv.Register(grpcSrv)

	logger.Info("aggregator listening", "version", version, "http", httpLn.Addr().String(), "grpc", grpcLn.Addr().String(), "database", dbPath)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := httpSrv.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := grpcSrv.Serve(grpcLn); err != nil {
			return fmt.Errorf("serve grpc: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-opts.reload:
				reloads.reload()
			}
		}
	})
	g.Go(func() error {
		<-gctx.Done()
		logger.Info("aggregator shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		stopped := make(chan struct{})
		go func() { grpcSrv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-shutdownCtx.Done():
			grpcSrv.Stop()
		}
		return httpSrv.Shutdown(shutdownCtx)
	})
	err = g.Wait()
	logger.Info("aggregator stopped")
	return err
}
