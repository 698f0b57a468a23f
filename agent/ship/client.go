// Package ship sends batches of entries to the aggregator over gRPC and
// retries each one until it is acknowledged: the agent's log files are the
// buffer, so a batch is never dropped.
package ship

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hooktail/hooktail/agent"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// Options configure a Client.
type Options struct {
	// Addresses of aggregators, tried in turn on failure (failover).
	Addresses []string
	// Token is sent as "Authorization: Bearer" when set.
	Token string
	// TLS enables TLS when non-nil.
	TLS     *tls.Config
	AgentID string
	// Timeout bounds one push attempt (default 30s).
	Timeout time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential backoff
	// between attempts (defaults 100ms and 30s).
	BackoffMin time.Duration
	BackoffMax time.Duration
	Logger     *slog.Logger
}

// WindowSize is the HTTP/2 flow-control window for pushes, on the stream
// and the connection; the aggregator should use the same.
const WindowSize = 8 << 20

// Ack is the aggregator's acknowledgement of a batch.
type Ack struct {
	Stored     int
	Duplicates int
	// Attempts is how many pushes it took.
	Attempts int
}

// Client pushes batches to the aggregator. It is safe for use by one
// goroutine at a time per batch; Push may be called concurrently.
type Client struct {
	opts   Options
	conns  []*grpc.ClientConn
	stubs  []hooktailv1.IngestClient
	logger *slog.Logger
	now    func() time.Time

	// Counters of Stats.
	pushes, attempts, retries, retriedBatches atomic.Int64
	failovers, checks                         atomic.Int64
	errors                                    [numErrorKinds]atomic.Int64
	lastContact                               atomic.Pointer[Contact]
}

// ErrorKind classifies a failed push attempt, for the counters.
type ErrorKind int

// The kinds of failed attempts.
const (
	// ErrorUnavailable: no connection, or the aggregator asked to retry.
	ErrorUnavailable ErrorKind = iota
	// ErrorTimeout: the attempt ran out of Options.Timeout.
	ErrorTimeout
	// ErrorAuth: the token or the network was refused.
	ErrorAuth
	// ErrorRejected: the aggregator said the batch can never be stored as
	// sent (InvalidArgument).
	ErrorRejected
	// ErrorOther: anything else.
	ErrorOther
	numErrorKinds
)

// String is the error kind's metric label.
func (k ErrorKind) String() string {
	switch k {
	case ErrorUnavailable:
		return "unavailable"
	case ErrorTimeout:
		return "timeout"
	case ErrorAuth:
		return "auth"
	case ErrorRejected:
		return "rejected"
	case ErrorOther:
		return "other"
	}
	return "unknown"
}

// ErrorKinds lists every error kind, in order.
func ErrorKinds() []ErrorKind {
	return []ErrorKind{ErrorUnavailable, ErrorTimeout, ErrorAuth, ErrorRejected, ErrorOther}
}

func errorKind(err error) ErrorKind {
	switch status.Code(err) {
	case codes.Unavailable:
		return ErrorUnavailable
	case codes.DeadlineExceeded:
		return ErrorTimeout
	case codes.Unauthenticated, codes.PermissionDenied:
		return ErrorAuth
	case codes.InvalidArgument:
		return ErrorRejected
	}
	return ErrorOther
}

// Contact is the outcome of one exchange with an aggregator: a push attempt
// or a Check.
type Contact struct {
	At      time.Time
	Address string
	// Err is nil when the aggregator answered with an acknowledgement.
	Err error
}

// Stats are the client's counters, cumulative since New.
type Stats struct {
	// Pushes counts batches acknowledged.
	Pushes int64
	// Attempts counts push calls made; Retries those after the first of
	// their batch; RetriedBatches the batches that needed more than one.
	Attempts, Retries, RetriedBatches int64
	// Failovers counts moves to another address after a failed attempt
	// (only with several addresses).
	Failovers int64
	// Errors counts failed attempts by kind, indexed by ErrorKind. An
	// attempt cut short by the caller's context is not an error.
	Errors [numErrorKinds]int64
	// Checks counts health checks (Check calls).
	Checks int64
	// LastContact is the latest push attempt or check that reached an
	// outcome; nil before the first.
	LastContact *Contact
}

// Stats returns the counters. It is cheap: a few atomic loads.
func (c *Client) Stats() Stats {
	s := Stats{
		Pushes:         c.pushes.Load(),
		Attempts:       c.attempts.Load(),
		Retries:        c.retries.Load(),
		RetriedBatches: c.retriedBatches.Load(),
		Failovers:      c.failovers.Load(),
		Checks:         c.checks.Load(),
		LastContact:    c.lastContact.Load(),
	}
	for i := range c.errors {
		s.Errors[i] = c.errors[i].Load()
	}
	return s
}

// contact records the outcome of an exchange with the aggregator at target.
func (c *Client) contact(target int, err error) {
	c.lastContact.Store(&Contact{At: c.now(), Address: c.opts.Addresses[target], Err: err})
}

// failed counts a failed attempt that the caller did not cut short.
func (c *Client) failed(target int, err error) {
	c.errors[errorKind(err)].Add(1)
	c.contact(target, err)
}

// New returns a client for opts.Addresses. Connections are made lazily, on
// the first push.
func New(opts Options) (*Client, error) {
	if len(opts.Addresses) == 0 {
		return nil, errors.New("no aggregator address")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 100 * time.Millisecond
	}
	if opts.BackoffMax < opts.BackoffMin {
		opts.BackoffMax = max(30*time.Second, opts.BackoffMin)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	c := &Client{opts: opts, logger: logger.With("component", "ship"), now: time.Now}
	creds := insecure.NewCredentials()
	if opts.TLS != nil {
		creds = credentials.NewTLS(opts.TLS)
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(256 << 20)),
		// A batch is hundreds of KiB: with gRPC's 64 KiB default windows
		// each push waits for several window updates.
		grpc.WithInitialWindowSize(WindowSize),
		grpc.WithInitialConnWindowSize(WindowSize),
	}
	if opts.Token != "" {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(bearer{token: opts.Token, secure: opts.TLS != nil}))
	}
	for _, addr := range opts.Addresses {
		conn, err := grpc.NewClient(addr, dialOpts...)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("set up connection to aggregator %q: %w", addr, err)
		}
		c.conns = append(c.conns, conn)
		c.stubs = append(c.stubs, hooktailv1.NewIngestClient(conn))
	}
	return c, nil
}

// Close closes the connections.
func (c *Client) Close() error {
	var errs []error
	for _, conn := range c.conns {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}

// Push sends one batch and retries, with capped and jittered exponential
// backoff and failover between addresses, until the aggregator acknowledges
// it or ctx is done.
func (c *Client) Push(ctx context.Context, batchID uint64, entries []agent.Entry) (Ack, error) {
	req := &hooktailv1.PushRequest{AgentId: c.opts.AgentID, BatchId: batchID, Entries: toProto(entries)}
	backoff := c.opts.BackoffMin
	var lastLog time.Time
	for attempt, target := 1, 0; ; attempt++ {
		c.attempts.Add(1)
		if attempt == 2 {
			c.retriedBatches.Add(1)
		}
		if attempt > 1 {
			c.retries.Add(1)
		}
		callCtx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		var trailer metadata.MD
		resp, err := c.stubs[target].Push(callCtx, req, grpc.Trailer(&trailer))
		cancel()
		if err == nil {
			c.pushes.Add(1)
			c.contact(target, nil)
			return Ack{Stored: int(resp.GetStored()), Duplicates: int(resp.GetDuplicates()), Attempts: attempt}, nil
		}
		if ctx.Err() == nil {
			c.failed(target, err)
		}
		if rej := rejected(err, trailer, len(entries)); rej != nil {
			return Ack{}, rej
		}
		if ctx.Err() != nil {
			return Ack{}, fmt.Errorf("push batch %d: %w", batchID, ctx.Err())
		}
		if time.Since(lastLog) >= 5*time.Second || attempt == 1 {
			level := slog.LevelWarn
			switch status.Code(err) {
			case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument:
				// Not fixed by waiting, but dropping the batch would lose
				// records: keep retrying and ask for a human.
				level = slog.LevelError
			}
			c.logger.Log(ctx, level, "push failed, retrying", "address", c.opts.Addresses[target],
				"batch_id", batchID, "entries", len(entries), "attempt", attempt, "backoff", backoff, "error", err)
			lastLog = time.Now()
		}
		if len(c.stubs) > 1 {
			target = (target + 1) % len(c.stubs)
			c.failovers.Add(1)
		}
		// Full jitter between backoff/2 and backoff.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Ack{}, fmt.Errorf("push batch %d: %w", batchID, ctx.Err())
		case <-t.C:
		}
		backoff = min(backoff*2, c.opts.BackoffMax)
	}
}

// Check asks the aggregators, in turn, whether they accept pushes from this
// agent: it pushes an empty batch (batch id 0, which stores nothing) once to
// each until one acknowledges it, so that the address, TLS and the token
// are all checked. It returns nil at the first acknowledgement, else the
// last error. Each attempt is bounded by Options.Timeout and ctx.
func (c *Client) Check(ctx context.Context) error {
	c.checks.Add(1)
	req := &hooktailv1.PushRequest{AgentId: c.opts.AgentID}
	var err error
	for target, stub := range c.stubs {
		callCtx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		_, err = stub.Push(callCtx, req)
		cancel()
		if err == nil {
			c.contact(target, nil)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("check aggregator %q: %w", c.opts.Addresses[target], ctx.Err())
		}
		c.failed(target, err)
		err = fmt.Errorf("check aggregator %q: %w", c.opts.Addresses[target], err)
	}
	return err
}

// RejectedError is the aggregator's word that one entry of a batch can
// never be stored: retrying the same batch cannot help. The caller sends
// the batch again with that entry changed or left out.
type RejectedError struct {
	// Index of the entry in the batch.
	Index int
	Err   error
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("aggregator rejected entry %d of the batch: %v", e.Index, e.Err)
}

func (e *RejectedError) Unwrap() error { return e.Err }

// rejected returns a RejectedError when err is an InvalidArgument naming
// the entry at fault; other errors are retried.
func rejected(err error, trailer metadata.MD, n int) *RejectedError {
	if status.Code(err) != codes.InvalidArgument {
		return nil
	}
	v := trailer.Get(hooktailv1.InvalidEntryTrailer)
	if len(v) != 1 {
		return nil
	}
	i, perr := strconv.Atoi(v[0])
	if perr != nil || i < 0 || i >= n {
		return nil
	}
	return &RejectedError{Index: i, Err: err}
}

type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }
