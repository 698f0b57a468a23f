// Command hooktail-agent tails a webhook server's log files, parses them and
// ships the entries to a hooktail aggregator.
//
//	hooktail-agent -config PATH                 run (SIGHUP reloads PATH)
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
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	_ "time/tzdata" // timezones work on hosts without a zoneinfo database

	"github.com/hooktail/hooktail/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

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
	case errors.Is(err, config.ErrUsage), errors.Is(err, flag.ErrHelp):
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
	cmd := &config.RunCommand{
		Name:    "hooktail-agent",
		Version: version,
		Usage:   "  hooktail-agent -config PATH\n  hooktail-agent validate -config PATH\n  hooktail-agent parse -config PATH -source NAME [FILE]\n  hooktail-agent -version\n",
		Run: func(ctx context.Context, path string, logger *slog.Logger) error {
			// SIGHUP reloads the configuration. It is caught from the start:
			// one that arrives while the agent starts is applied once it
			// runs, rather than ending the process.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			cfg, err := load(path, stderr)
			if err != nil {
				return err
			}
			return runAgent(ctx, path, cfg, hup, logger)
		},
	}
	return cmd.Main(args, stdout, stderr)
}
