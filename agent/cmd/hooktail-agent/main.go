// Command hooktail-agent tails a webhook server's log files, parses them and
// ships the entries to a hooktail aggregator.
//
//	hooktail-agent -config PATH                 run
//	hooktail-agent validate -config PATH        check the configuration
//	hooktail-agent parse -config PATH -source NAME [FILE]
//	                                            print the entries FILE (or stdin) yields, as JSON lines
//	hooktail-agent -version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/hooktail/hooktail/config"
	_ "time/tzdata" // timezones work on hosts without a zoneinfo database
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// errUsage marks command-line mistakes (exit code 2).
var errUsage = errors.New("usage")

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "validate":
		err = cmdValidate(args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "parse":
		err = cmdParse(args[1:], stdin, stdout, stderr)
	default:
		err = cmdRun(args, stdout, stderr)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		if !errors.Is(err, errReported) {
			fmt.Fprintln(stderr, "hooktail-agent:", err)
		}
		return 1
	}
}

// errReported is returned once the problem has been printed in full.
var errReported = errors.New("reported")

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hooktail-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration `PATH`: an .hcl file or a directory of them")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `FILE` until the agent stops (for performance work)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage:\n  hooktail-agent -config PATH\n  hooktail-agent validate -config PATH\n  hooktail-agent parse -config PATH -source NAME [FILE]\n  hooktail-agent -version\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *showVersion {
		fmt.Fprintln(stdout, "hooktail-agent", version)
		return nil
	}
	if *configPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	logger, err := config.NewLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	cfg, err := load(*configPath, stderr)
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
	return runAgent(ctx, cfg, logger)
}
