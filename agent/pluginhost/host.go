// Package pluginhost runs an out-of-process parser plugin (one plugin
// block) as a supervised hashicorp/go-plugin client that is itself a
// plugins.Parser: the agent parses through it as through a built-in.
//
// A plugin that crashes is restarted with capped, jittered backoff and the
// same call is made again; one that hangs past the per-call timeout is
// killed and restarted the same way. A batch that crashes or hangs the
// plugin MaxAttempts times in a row is given back raw, every record flagged
// parse_error, so that one poisoned record cannot stall its source. A
// plugin that cannot be started again is retried until the caller's
// context ends: nothing is lost while the log files wait.
package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/hooktail/hooktail/plugins"
)

// Defaults of Options.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultStartTimeout = 10 * time.Second
	DefaultMaxAttempts  = 3
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 10 * time.Second
)

// ErrClosed is returned by the calls of a closed Host.
var ErrClosed = errors.New("plugin host closed")

// Options configure a Host.
type Options struct {
	// Name is the plugin block's label; errors and logs name it.
	Name string
	// Command is the plugin binary, an absolute path (the configuration
	// resolves it against the config file's folder).
	Command string
	// Args are the command's arguments.
	Args []string
	// Timeout bounds every call to the plugin, one Parse batch included; a
	// plugin that takes longer is killed and restarted. DefaultTimeout
	// when zero.
	Timeout time.Duration
	// StartTimeout bounds a start: process, handshake, Describe and
	// Configure. DefaultStartTimeout when zero.
	StartTimeout time.Duration
	// MaxAttempts is how many times one call may crash or hang the plugin
	// before it is given up (a Parse batch then comes back raw).
	// DefaultMaxAttempts when zero.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait before a restart: it doubles
	// with every failure in a row, from MinBackoff up to MaxBackoff, and
	// is jittered down by up to half. Defaults DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the host's log and the plugin's, bridged from
	// go-plugin; slog.Default() when nil.
	Logger *slog.Logger
}

// Stats counts what happened to a plugin; see Host.Stats.
type Stats struct {
	// Starts counts the plugin processes started, the first included.
	Starts uint64
	// Restarts counts the starts after the first.
	Restarts uint64
	// Crashes counts calls that found the plugin gone: exited or its
	// connection broken.
	Crashes uint64
	// Timeouts counts calls that outlived Options.Timeout.
	Timeouts uint64
	// PoisonedBatches counts batches given back raw after they crashed or
	// hung the plugin MaxAttempts times.
	PoisonedBatches uint64
	// MalformedBatches counts batches given back raw because the plugin
	// did not answer one entry per record.
	MalformedBatches uint64
}

// Host is a running parser plugin. It is a plugins.Parser, safe for
// concurrent use; Close stops the plugin.
type Host struct {
	opts   Options
	logger *slog.Logger
	// starting admits one start at a time; a channel, so that waiting for
	// it honours the caller's context.
	starting chan struct{}

	mu  sync.Mutex
	cur *instance // nil while no plugin runs
	// config is what Configure last applied; it is applied again to every
	// restarted plugin.
	config     json.RawMessage
	configured bool
	closed     bool
	// failures counts crashes, hangs and failed starts in a row; the
	// backoff grows with it and a successful call resets it.
	failures int

	starts, restarts, crashes, timeouts, poisoned, malformed atomic.Uint64
}

var _ plugins.Parser = (*Host)(nil)

// instance is one plugin process.
type instance struct {
	client *plugin.Client
	cmd    *exec.Cmd
	parser plugins.Parser
	once   sync.Once
}

// kill ends the process at once (a crashed or hung plugin).
func (in *instance) kill() {
	in.once.Do(func() {
		if in.cmd.Process != nil {
			_ = in.cmd.Process.Kill()
		}
		in.client.Kill()
	})
}

// stop asks the plugin to exit, and kills it if it does not soon.
func (in *instance) stop() {
	in.once.Do(in.client.Kill)
}

// Open starts the plugin and checks it: the handshake (magic cookie and
// protocol version) and its Describe. A missing command, another protocol
// or a plugin that does not start is an error naming the plugin.
func Open(ctx context.Context, opts Options) (*Host, error) {
	if opts.Name == "" || opts.Command == "" {
		return nil, errors.New("plugin host: name and command are required")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	h := &Host{opts: opts, logger: logger.With("plugin", opts.Name), starting: make(chan struct{}, 1)}
	inst, err := h.launch(ctx)
	if err != nil {
		return nil, fmt.Errorf("plugin %q: %w", opts.Name, err)
	}
	h.cur = inst
	return h, nil
}

// Name is the plugin block's label.
func (h *Host) Name() string { return h.opts.Name }

// Stats returns the plugin's counters so far.
func (h *Host) Stats() Stats {
	return Stats{
		Starts:           h.starts.Load(),
		Restarts:         h.restarts.Load(),
		Crashes:          h.crashes.Load(),
		Timeouts:         h.timeouts.Load(),
		PoisonedBatches:  h.poisoned.Load(),
		MalformedBatches: h.malformed.Load(),
	}
}

// Close stops the plugin process. Calls after Close fail with ErrClosed.
func (h *Host) Close() error {
	h.mu.Lock()
	inst := h.cur
	h.cur, h.closed = nil, true
	h.mu.Unlock()
	if inst != nil {
		inst.stop()
	}
	return nil
}

// Describe forwards to the plugin.
func (h *Host) Describe(ctx context.Context) (plugins.Description, error) {
	var d plugins.Description
	err := h.call(ctx, "describe", func(ctx context.Context, p plugins.Parser) (err error) {
		d, err = p.Describe(ctx)
		return err
	})
	return d, err
}

// ValidateConfig hands config to the plugin as it is.
func (h *Host) ValidateConfig(ctx context.Context, config json.RawMessage) (plugins.Diagnostics, error) {
	var ds plugins.Diagnostics
	err := h.call(ctx, "validate config", func(ctx context.Context, p plugins.Parser) (err error) {
		ds, err = p.ValidateConfig(ctx, config)
		return err
	})
	return ds, err
}

// Configure hands config to the plugin as it is. A configuration it
// accepts is applied again to every restarted plugin.
func (h *Host) Configure(ctx context.Context, config json.RawMessage) (plugins.Diagnostics, error) {
	var ds plugins.Diagnostics
	err := h.call(ctx, "configure", func(ctx context.Context, p plugins.Parser) (err error) {
		ds, err = p.Configure(ctx, config)
		return err
	})
	if err == nil && !ds.HasErrors() {
		h.mu.Lock()
		h.config, h.configured = slices.Clone(config), true
		h.mu.Unlock()
	}
	return ds, err
}

// Parse sends the batch to the plugin within Options.Timeout. A crash or
// hang restarts the plugin and the same batch is sent again; after
// MaxAttempts of them, or when the plugin does not answer one entry per
// record, every record comes back raw, flagged ParseError, and the error is
// nil. The error is the context's when it is done, else the plugin's own.
func (h *Host) Parse(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
	n := len(dst)
	out := dst
	err := h.call(ctx, "parse", func(ctx context.Context, p plugins.Parser) (err error) {
		out, err = p.Parse(ctx, req, dst[:n])
		return err
	})
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, errGaveUp):
		h.poisoned.Add(1)
		h.logRaw("batch crashed or hung the plugin every time; its records are stored raw, flagged parse_error", req, err)
		return appendRaw(dst[:n], req), nil
	case errors.Is(err, plugins.ErrContract):
		h.malformed.Add(1)
		h.logRaw("plugin did not answer one entry per record; the batch's records are stored raw, flagged parse_error", req, err)
		return appendRaw(dst[:n], req), nil
	default:
		return dst[:n], err
	}
}

func (h *Host) logRaw(msg string, req *plugins.ParseRequest, err error) {
	attrs := []any{"records", len(req.Records), "error", err}
	if len(req.Records) > 0 {
		attrs = append(attrs, "file", req.Records[0].File, "offset", req.Records[0].Offset)
	}
	h.logger.Error(msg, attrs...)
}

func appendRaw(dst []plugins.Entry, req *plugins.ParseRequest) []plugins.Entry {
	for i := range req.Records {
		dst = append(dst, plugins.RawEntry(req.Records[i].Data))
	}
	return dst
}

// errGaveUp ends a call that crashed or hung the plugin MaxAttempts times.
var errGaveUp = errors.New("gave up")

// call runs fn against the running plugin within Options.Timeout. A crash
// or a hang kills the plugin and fn runs again on a new one, up to
// MaxAttempts times; the error then wraps errGaveUp.
func (h *Host) call(ctx context.Context, op string, fn func(context.Context, plugins.Parser) error) error {
	for attempt := 1; ; attempt++ {
		inst, err := h.running(ctx)
		if err != nil {
			return fmt.Errorf("plugin %q: %s: %w", h.opts.Name, op, err)
		}
		// When the caller's deadline comes first, running out of time is
		// the caller's, not a hung plugin's: gRPC may report the deadline
		// before the caller's context says it is done.
		ours := time.Now().Add(h.opts.Timeout)
		callerDeadline, hasDeadline := ctx.Deadline()
		callerBinds := hasDeadline && !callerDeadline.After(ours)
		callCtx, cancel := context.WithDeadline(ctx, ours)
		err = fn(callCtx, inst.parser)
		cancel()
		if err == nil {
			h.mu.Lock()
			h.failures = 0
			h.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("plugin %q: %s: %w", h.opts.Name, op, ctx.Err())
		}
		if callerBinds && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("plugin %q: %s: %w", h.opts.Name, op, context.DeadlineExceeded)
		}
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			h.timeouts.Add(1)
			h.logger.Warn("plugin call timed out; killing the plugin", "call", op, "timeout", h.opts.Timeout, "attempt", attempt)
		case errors.Is(err, plugins.ErrUnavailable) || inst.client.Exited():
			h.crashes.Add(1)
			h.logger.Warn("plugin crashed; restarting it", "call", op, "attempt", attempt, "error", err)
		default:
			return fmt.Errorf("plugin %q: %w", h.opts.Name, err)
		}
		h.lost(inst)
		if attempt >= h.opts.MaxAttempts {
			return fmt.Errorf("plugin %q: %s: %w after %d attempts: %w", h.opts.Name, op, errGaveUp, attempt, err)
		}
	}
}

// lost kills inst, if it still is the current plugin, and counts a failure.
func (h *Host) lost(inst *instance) {
	h.mu.Lock()
	if h.cur == inst {
		h.cur = nil
		h.failures++
	}
	h.mu.Unlock()
	inst.kill()
}

// running returns the running plugin, starting one if there is none. A
// start that fails is tried again, with backoff, until ctx is done or the
// host is closed.
func (h *Host) running(ctx context.Context) (*instance, error) {
	for {
		h.mu.Lock()
		inst, closed := h.cur, h.closed
		h.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case inst != nil && inst.client.Exited():
			// Gone between calls: no call's attempt is charged for it.
			h.crashes.Add(1)
			h.logger.Warn("plugin exited; restarting it")
			h.lost(inst)
			continue
		case inst != nil:
			return inst, nil
		}
		select {
		case h.starting <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		inst, err := h.restart(ctx)
		<-h.starting
		if inst != nil || ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return inst, err
		}
	}
}

// restart starts a plugin after the backoff that the failures in a row
// call for, unless another caller already did. Only the holder of
// h.starting calls it.
func (h *Host) restart(ctx context.Context) (*instance, error) {
	h.mu.Lock()
	if h.cur != nil || h.closed {
		inst := h.cur
		h.mu.Unlock()
		if inst == nil {
			return nil, ErrClosed
		}
		return inst, nil
	}
	delay := h.backoff(h.failures)
	h.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	inst, err := h.launch(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			h.failures++
			h.logger.Error("plugin restart failed; trying again", "error", err, "failures", h.failures)
		}
		return nil, err
	}
	if h.closed {
		go inst.stop()
		return nil, ErrClosed
	}
	h.cur = inst
	h.restarts.Add(1)
	return inst, nil
}

// backoff is the wait before a start after n failures in a row: none for
// the first start, then MinBackoff doubling up to MaxBackoff, jittered
// down by up to half.
func (h *Host) backoff(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := h.opts.MaxBackoff
	if n-1 < 32 && h.opts.MinBackoff<<(n-1) < d && h.opts.MinBackoff<<(n-1) > 0 {
		d = h.opts.MinBackoff << (n - 1)
	}
	return d/2 + rand.N(d/2+1)
}

// launch starts a plugin process and readies it: handshake, Describe and,
// if the host is configured, Configure.
func (h *Host) launch(ctx context.Context) (*instance, error) {
	ctx, cancel := context.WithTimeout(ctx, h.opts.StartTimeout)
	defer cancel()
	type started struct {
		inst *instance
		err  error
	}
	done := make(chan started, 1)
	go func() {
		inst, err := h.startProcess()
		done <- started{inst, err}
	}()
	var inst *instance
	select {
	case s := <-done:
		if s.err != nil {
			return nil, s.err
		}
		inst = s.inst
	case <-ctx.Done():
		// go-plugin's start cannot be interrupted: the process is killed
		// once it is up.
		go func() {
			if s := <-done; s.inst != nil {
				s.inst.kill()
			}
		}()
		return nil, fmt.Errorf("start %s: %w", h.opts.Command, ctx.Err())
	}
	d, err := inst.parser.Describe(ctx)
	if err != nil {
		inst.kill()
		return nil, err
	}
	h.mu.Lock()
	config, configured := h.config, h.configured
	h.mu.Unlock()
	if configured {
		ds, err := inst.parser.Configure(ctx, config)
		if err == nil && ds.HasErrors() {
			err = fmt.Errorf("configuration refused: %s", ds[0].Summary)
		}
		if err != nil {
			inst.kill()
			return nil, fmt.Errorf("reconfigure: %w", err)
		}
	}
	h.starts.Add(1)
	h.logger.Info("plugin started", "pid", inst.cmd.Process.Pid, "parser", d.Name)
	return inst, nil
}

// startProcess runs the command and completes go-plugin's handshake.
func (h *Host) startProcess() (*instance, error) {
	cmd := exec.Command(h.opts.Command, h.opts.Args...)
	if cmd.Err != nil {
		return nil, fmt.Errorf("start %s: %w", h.opts.Command, cmd.Err)
	}
	if _, err := os.Stat(cmd.Path); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	setProcAttr(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugins.HandshakeConfig(),
		Plugins:          plugins.PluginSet(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     h.opts.StartTimeout,
		Logger:           newHCLogBridge(h.logger),
		GRPCDialOptions:  plugins.DialOptions(),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	raw, err := rpc.Dispense(plugins.PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p, ok := raw.(plugins.Parser)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("start %s: dispensed %T, not a parser", cmd.Path, raw)
	}
	return &instance{client: client, cmd: cmd, parser: p}, nil
}
