// Package ingest is the aggregator's gRPC ingest server: it authenticates
// agents, converts the wire entries to domain entries at the edge and stores
// each batch before acknowledging it.
package ingest

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/hooktail/hooktail/aggregator"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// Ingester stores batches; aggregator.Store is one.
type Ingester interface {
	Ingest(ctx context.Context, b *aggregator.Batch) (aggregator.IngestResult, error)
}

// Options configure a Server.
type Options struct {
	Store Ingester
	// Tokens are the accepted bearer tokens. Empty: no token is asked for,
	// and only peers in TrustedNetworks may push. SetAccess changes them
	// and TrustedNetworks while the server runs.
	Tokens          []string
	TrustedNetworks []netip.Prefix
	// MaxBatchEntries rejects larger batches (0: 100000).
	MaxBatchEntries int
	Logger          *slog.Logger
}

// Server implements the hooktail.v1.Ingest service. It is a
// prometheus.Collector of its metrics (metrics.go): register it with the
// registry that serves them.
type Server struct {
	hooktailv1.UnimplementedIngestServer
	store      Ingester
	maxEntries int
	logger     *slog.Logger
	access     atomic.Pointer[access]
	metrics    *metrics
	// lastFullLog is when (Unix ns) a full disk was last logged at Error.
	lastFullLog atomic.Int64
}

var _ prometheus.Collector = (*Server)(nil)

// access is who may push.
type access struct {
	tokens  [][]byte
	trusted []netip.Prefix
}

// New returns a Server; it does no I/O.
func New(opts Options) *Server {
	if opts.MaxBatchEntries <= 0 {
		opts.MaxBatchEntries = 100000
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{store: opts.Store, maxEntries: opts.MaxBatchEntries,
		logger: logger.With("component", "ingest"), metrics: newMetrics()}
	s.SetAccess(opts.Tokens, opts.TrustedNetworks)
	return s
}

// SetAccess changes who may push (Options.Tokens and
// Options.TrustedNetworks) for every Push from now on; a Push already
// authorized completes. Safe for concurrent use.
func (s *Server) SetAccess(tokens []string, trusted []netip.Prefix) {
	a := &access{trusted: slices.Clone(trusted)}
	for _, t := range tokens {
		a.tokens = append(a.tokens, []byte(t))
	}
	s.access.Store(a)
}

// Register adds the service to g.
func (s *Server) Register(g *grpc.Server) { hooktailv1.RegisterIngestServer(g, s) }

// Push stores one batch and acknowledges it once it is durable. A failed
// Push answers InvalidArgument (with InvalidEntryTrailer naming the entry,
// when known) when the same batch can never be stored, and Unavailable
// when retrying it may succeed: a store error, a full disk (the message
// says so; nothing of the batch is stored) or an I/O error.
func (s *Server) Push(ctx context.Context, req *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	if n := len(req.GetEntries()); n > s.maxEntries {
		s.metrics.failed(reasonTooLarge)
		return nil, status.Errorf(codes.InvalidArgument, "batch of %d entries exceeds the limit of %d", n, s.maxEntries)
	}
	batch := &aggregator.Batch{AgentID: req.GetAgentId(), Entries: make([]aggregator.Entry, len(req.GetEntries()))}
	for i, e := range req.GetEntries() {
		fromProto(&batch.Entries[i], e, req.GetAgentId())
	}
	s.metrics.inFlight.Inc()
	start := time.Now()
	res, err := s.store.Ingest(ctx, batch)
	took := time.Since(start)
	s.metrics.inFlight.Dec()
	s.metrics.duration.Observe(took.Seconds())
	if err != nil {
		return nil, s.storeFailed(ctx, req, len(batch.Entries), err)
	}
	s.metrics.stored(res)
	s.logger.Debug("ingested batch", "agent_id", req.GetAgentId(), "batch_id", req.GetBatchId(),
		"stored", res.Stored, "duplicates", res.Duplicates, "took", took)
	return &hooktailv1.PushResponse{
		BatchId:    req.GetBatchId(),
		Stored:     uint32(res.Stored),
		Duplicates: uint32(res.Duplicates),
	}, nil
}

// fullLogInterval is the least time between two Error logs of a full disk;
// the failures in between are logged at Warn.
const fullLogInterval = time.Minute

// storeFailed logs a failed Ingest and returns its answer. The answers
// carry fixed messages: the store's error text stays in the log.
func (s *Server) storeFailed(ctx context.Context, req *hooktailv1.PushRequest, n int, err error) error {
	level := slog.LevelWarn
	if errors.Is(err, aggregator.ErrStorageFull) {
		// Needs a human, but every agent retries every few seconds.
		if now := time.Now().UnixNano(); now-s.lastFullLog.Load() >= int64(fullLogInterval) {
			s.lastFullLog.Store(now)
			level = slog.LevelError
		}
	}
	s.logger.Log(ctx, level, "ingest batch failed", "agent_id", req.GetAgentId(), "batch_id", req.GetBatchId(),
		"entries", n, "error", err)
	switch {
	case errors.Is(err, context.Canceled):
		s.metrics.failed(reasonCanceled)
		return status.Error(codes.Canceled, "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		s.metrics.failed(reasonDeadline)
		return status.Error(codes.DeadlineExceeded, "request deadline exceeded")
	}
	if invalid, ok := errors.AsType[*aggregator.InvalidEntryError](err); ok {
		s.metrics.failed(reasonInvalidEntry)
		return invalidEntry(ctx, s.metrics, invalid.Index, n)
	}
	if errors.Is(err, aggregator.ErrInvalidEntry) {
		s.metrics.failed(reasonInvalidEntry)
		return invalidEntry(ctx, s.metrics, -1, n)
	}
	// Retryable by design: the agent keeps the batch and tries again.
	switch {
	case errors.Is(err, aggregator.ErrStorageFull):
		s.metrics.failed(reasonDiskFull)
		return status.Error(codes.Unavailable, "aggregator disk is full: the batch was not stored; retry later")
	case errors.Is(err, aggregator.ErrStorageIO):
		s.metrics.failed(reasonIOError)
		return status.Error(codes.Unavailable, "aggregator storage I/O error: the batch was not stored; retry later")
	}
	s.metrics.failed(reasonStoreError)
	return status.Error(codes.Unavailable, "store unavailable, retry later")
}

// InvalidEntryTrailer is the trailer key of an InvalidArgument answer to
// Push that names the entry at fault: its index in PushRequest.entries, in
// decimal. Absent when the store could not tell which entry it was.
const InvalidEntryTrailer = hooktailv1.InvalidEntryTrailer

// invalidEntry is the answer to a batch the store can never accept: a
// non-retryable InvalidArgument whose message names the entry (and which
// also goes into the InvalidEntryTrailer), never the store's error text.
func invalidEntry(ctx context.Context, m *metrics, index, n int) error {
	if index < 0 || index >= n {
		return status.Error(codes.InvalidArgument,
			"the batch holds an entry that can never be stored; retrying the same batch will not help")
	}
	m.rejectedEntries.Inc()
	// Without a gRPC stream (a direct call) there is no trailer to set.
	_ = grpc.SetTrailer(ctx, metadata.Pairs(InvalidEntryTrailer, strconv.Itoa(index)))
	return status.Errorf(codes.InvalidArgument,
		"entry %d of the batch can never be stored; retrying the same batch will not help", index)
}

func (s *Server) authorize(ctx context.Context) error {
	a := s.access.Load()
	if len(a.tokens) > 0 {
		md, _ := metadata.FromIncomingContext(ctx)
		for _, v := range md.Get("authorization") {
			tok, ok := strings.CutPrefix(v, "Bearer ")
			if !ok {
				continue
			}
			for _, want := range a.tokens {
				if subtle.ConstantTimeCompare([]byte(tok), want) == 1 {
					return nil
				}
			}
		}
		s.metrics.failed(reasonUnauthenticated)
		return status.Error(codes.Unauthenticated, "missing or invalid ingest token")
	}
	p, ok := peer.FromContext(ctx)
	if ok && p.Addr != nil {
		if addr, ok := peerAddr(p.Addr); ok && aggregator.Trusted(addr, a.trusted) {
			return nil
		}
	}
	s.metrics.failed(reasonPermissionDenied)
	return status.Error(codes.PermissionDenied, "ingest is open to trusted networks only")
}

func peerAddr(a net.Addr) (netip.Addr, bool) {
	if tcp, ok := a.(*net.TCPAddr); ok {
		addr, ok := netip.AddrFromSlice(tcp.IP)
		return addr.Unmap(), ok
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}
