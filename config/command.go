package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// ErrUsage is returned for a command-line mistake, after the usage was
// printed (exit code 2).
var ErrUsage = errors.New("usage")

// RunCommand is the "run" command both binaries share: the -config,
// -version, -log-level, -log-format and -cpuprofile flags, the logger, an
// optional CPU profile, and a context that the first SIGINT or SIGTERM
// cancels (a second one ends the process at once).
type RunCommand struct {
	// Name is the binary's name, Version its version, Usage the lines
	// printed before the flags.
	Name    string
	Version string
	Usage   string
	// Run loads the configuration at path and runs until ctx is done.
	Run func(ctx context.Context, path string, logger *slog.Logger) error
}

// Main parses args and runs the command.
func (c *RunCommand) Main(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration `PATH`: an .hcl file or a directory of them")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `FILE` until the process stops (for performance work)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage:\n%s\nflags:\n", c.Usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return ErrUsage
	}
	if *showVersion {
		fmt.Fprintln(stdout, c.Name, c.Version)
		return nil
	}
	if *configPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return ErrUsage
	}
	logger, err := NewLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful shutdown; a second one, with the
	// default handling restored, ends the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	return c.Run(ctx, *configPath, logger)
}
