// Command hooktail-demo runs hooktail end to end on this machine: an
// aggregator on its embedded SQLite, a log writer producing live
// github-webhook-server logs (with failures, tracebacks and rotation), and an
// agent tailing those and the example logs. It prints what to open and curl,
// with the id of a real failed delivery, and stops everything on Ctrl-C.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hooktail-demo:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "bin", "folder with the hooktail binaries")
	examples := flag.String("examples", "examples", "the examples folder (sample logs)")
	dir := flag.String("dir", ".demo", "working folder (wiped at start)")
	httpAddr := flag.String("http", "127.0.0.1:7401", "aggregator HTTP address")
	grpcAddr := flag.String("grpc", "127.0.0.1:7400", "aggregator gRPC address")
	rate := flag.Int("rate", 20, "live log records per second")
	exitAfter := flag.Duration("exit-after", 0, "stop after this long (0: wait for Ctrl-C)")
	flag.Parse()

	for _, p := range []*string{bin, examples, dir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	if err := os.RemoveAll(*dir); err != nil {
		return fmt.Errorf("clean %s: %w", *dir, err)
	}
	logs := filepath.Join(*dir, "logs")
	for _, d := range []string{logs, filepath.Join(*dir, "aggregator"), filepath.Join(*dir, "agent")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	aggCfg := filepath.Join(*dir, "aggregator.hcl")
	agentCfg := filepath.Join(*dir, "agent.hcl")
	if err := os.WriteFile(aggCfg, []byte(fmt.Sprintf(aggregatorHCL, filepath.Join(*dir, "aggregator"), *httpAddr, *grpcAddr)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(agentCfg, []byte(fmt.Sprintf(agentHCL, filepath.Join(*dir, "agent"), *grpcAddr,
		logs, filepath.Join(*examples, "logs"), filepath.Join(*examples, "logs", "legacy-4.0"))), 0o644); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *exitAfter)
		defer cancel()
	}

	var procs []*exec.Cmd
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			p := procs[i]
			_ = p.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = p.Process.Kill()
			}
		}
	}()
	start := func(name string, args ...string) error {
		logFile, err := os.Create(filepath.Join(*dir, name+".out"))
		if err != nil {
			return err
		}
		cmd := exec.Command(filepath.Join(*bin, name), args...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, cmd)
		return nil
	}

	base := "http://" + *httpAddr
	if err := start("hooktail-aggregator", "-config", aggCfg); err != nil {
		return err
	}
	if err := waitHTTP(ctx, base+"/healthz", 30*time.Second); err != nil {
		return fmt.Errorf("aggregator did not come up (see %s): %w", filepath.Join(*dir, "hooktail-aggregator.out"), err)
	}
	if err := start("hooktail-logwriter", "-dir", logs, "-rate", fmt.Sprint(*rate), "-max-bytes", "262144",
		"-failure-rate", "0.3", "-seed", fmt.Sprint(time.Now().UnixNano())); err != nil {
		return err
	}
	if err := start("hooktail-agent", "-config", agentCfg); err != nil {
		return err
	}

	fmt.Printf("hooktail demo is running (working folder %s)\n", *dir)
	fmt.Printf("  aggregator: HTTP %s, gRPC %s, database %s\n", base, *grpcAddr, filepath.Join(*dir, "aggregator"))
	fmt.Printf("  agent:      tailing %s (live, rotating) and %s\n", logs, filepath.Join(*examples, "logs"))
	fmt.Printf("  process output: %s/*.out\n\n", *dir)

	hook, step, err := findFailedDelivery(ctx, base, 60*time.Second)
	if err != nil {
		return fmt.Errorf("no failed delivery showed up: %w", err)
	}
	fmt.Printf("A failed delivery: %s, failed step: %s\n\n", hook, step)
	fmt.Println("Open in a browser:")
	fmt.Printf("  %s/                                   # deliveries, search, live tail\n", base)
	fmt.Printf("  %s/#/delivery/%s?step=%s   # this delivery's timeline and failed step\n\n", base, hook, url.QueryEscape(step))
	fmt.Println("Try:")
	fmt.Printf("  curl -s '%s/logs/api/workflow-steps/%s'\n", base, hook)
	fmt.Printf("  curl -s '%s/logs/api/step-logs/%s/%s'\n", base, hook, step)
	fmt.Printf("  curl -s '%s/logs/api/entries?hook_id=%s&level=ERROR'\n", base, hook)
	fmt.Printf("  curl -s '%s/logs/api/entries?search=Traceback&limit=5'\n", base)
	fmt.Printf("  curl -s '%s/api/logs?status=error&limit=5'            # deliveries, newest first\n", base)
	fmt.Printf("  curl -s '%s/logs?level=ERROR&search=clone&limit=5'     # generic logs\n", base)
	fmt.Printf("  curl -s '%s/openapi.json'                              # every endpoint\n\n", base)

	if tb, err := stepTraceback(ctx, base, hook, step); err == nil && tb != "" {
		fmt.Println("The failed step's log, with its traceback:")
		for _, line := range strings.Split(tb, "\n") {
			fmt.Println("  │ " + line)
		}
		fmt.Println()
	}
	fmt.Println("Logs keep coming; Ctrl-C stops the demo.")
	<-ctx.Done()
	fmt.Println("\nstopping…")
	return nil
}

func waitHTTP(ctx context.Context, u string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %s", resp.Status)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// findFailedDelivery waits for a "[FAILED] Webhook completed" summary in the
// live logs and returns its hook id and failed step.
func findFailedDelivery(ctx context.Context, base string, within time.Duration) (hook, step string, err error) {
	deadline := time.Now().Add(within)
	q := url.Values{"search": {"[FAILED] Webhook completed"}, "limit": {"20"}}
	for {
		var page struct {
			Entries []struct {
				HookID  *string `json:"hook_id"`
				Service string  `json:"service"`
			} `json:"entries"`
		}
		if err = getJSON(ctx, base+"/logs/api/entries?"+q.Encode(), &page); err == nil {
			for _, e := range page.Entries {
				if e.HookID == nil || e.Service != "webhook-server" {
					continue
				}
				var wf struct {
					Steps []struct {
						StepName   string `json:"step_name"`
						TaskStatus string `json:"task_status"`
					} `json:"steps"`
				}
				if err = getJSON(ctx, base+"/logs/api/workflow-steps/"+url.PathEscape(*e.HookID), &wf); err != nil {
					continue
				}
				for _, s := range wf.Steps {
					if s.TaskStatus == "failed" {
						return *e.HookID, s.StepName, nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("timed out")
			}
			return "", "", err
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// stepTraceback returns the ERROR lines of a step's logs.
func stepTraceback(ctx context.Context, base, hook, step string) (string, error) {
	var sl struct {
		Logs []struct {
			Timestamp string `json:"timestamp"`
			Level     string `json:"level"`
			Message   string `json:"message"`
		} `json:"logs"`
	}
	if err := getJSON(ctx, base+"/logs/api/step-logs/"+url.PathEscape(hook)+"/"+url.PathEscape(step), &sl); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, l := range sl.Logs {
		if l.Level != "ERROR" && l.Level != "CRITICAL" {
			continue
		}
		fmt.Fprintf(&b, "%s %s %s\n", l.Timestamp, l.Level, l.Message)
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

const aggregatorHCL = `# Written by hooktail-demo.
data_dir = %q
listen {
  http = %q
  grpc = %q
}
delivery_timeout = "15m"
`

const agentHCL = `# Written by hooktail-demo.
agent_id = "demo"
data_dir = %q
aggregator {
  address = %q
}
source "webhook-server" {
  paths    = ["%s/*.log"]
  parser   = "github-webhook-server"
  timezone = "UTC"
}
source "examples" {
  paths    = ["%s/webhook-server.log*"]
  parser   = "github-webhook-server"
}
source "legacy-4.0" {
  paths    = ["%s/*.log"]
  parser   = "github-webhook-server"
  timezone = "Asia/Jerusalem"
}
`
