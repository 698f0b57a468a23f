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
	c := &Client{opts: opts, logger: logger.With("component", "ship")}
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
		callCtx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		var trailer metadata.MD
		resp, err := c.stubs[target].Push(callCtx, req, grpc.Trailer(&trailer))
		cancel()
		if err == nil {
			return Ack{Stored: int(resp.GetStored()), Duplicates: int(resp.GetDuplicates()), Attempts: attempt}, nil
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
		target = (target + 1) % len(c.stubs)
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
