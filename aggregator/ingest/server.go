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
	"strconv"
	"strings"
	"time"

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
	// and only peers in TrustedNetworks may push.
	Tokens          []string
	TrustedNetworks []netip.Prefix
	// MaxBatchEntries rejects larger batches (0: 100000).
	MaxBatchEntries int
	Logger          *slog.Logger
}

// Server implements the hooktail.v1.Ingest service.
type Server struct {
	hooktailv1.UnimplementedIngestServer
	opts   Options
	logger *slog.Logger
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
	return &Server{opts: opts, logger: logger.With("component", "ingest")}
}

// Register adds the service to g.
func (s *Server) Register(g *grpc.Server) { hooktailv1.RegisterIngestServer(g, s) }

// Push stores one batch and acknowledges it once it is durable. A failed
// Push answers Unavailable when retrying the batch may succeed, and
// InvalidArgument (with InvalidEntryTrailer naming the entry, when known)
// when the same batch can never be stored.
func (s *Server) Push(ctx context.Context, req *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	if n := len(req.GetEntries()); n > s.opts.MaxBatchEntries {
		return nil, status.Errorf(codes.InvalidArgument, "batch of %d entries exceeds the limit of %d", n, s.opts.MaxBatchEntries)
	}
	batch := &aggregator.Batch{AgentID: req.GetAgentId(), Entries: make([]aggregator.Entry, len(req.GetEntries()))}
	for i, e := range req.GetEntries() {
		fromProto(&batch.Entries[i], e, req.GetAgentId())
	}
	start := time.Now()
	res, err := s.opts.Store.Ingest(ctx, batch)
	if err != nil {
		s.logger.Warn("ingest batch failed", "agent_id", req.GetAgentId(), "batch_id", req.GetBatchId(), "entries", len(batch.Entries), "error", err)
		// Fixed messages: the store's error text stays in the log.
		switch {
		case errors.Is(err, context.Canceled):
			return nil, status.Error(codes.Canceled, "request cancelled")
		case errors.Is(err, context.DeadlineExceeded):
			return nil, status.Error(codes.DeadlineExceeded, "request deadline exceeded")
		}
		if invalid, ok := errors.AsType[*aggregator.InvalidEntryError](err); ok {
			return nil, invalidEntry(ctx, invalid.Index, len(batch.Entries))
		}
		if errors.Is(err, aggregator.ErrInvalidEntry) {
			return nil, invalidEntry(ctx, -1, len(batch.Entries))
		}
		// Retryable by design: the agent keeps the batch and tries again.
		return nil, status.Error(codes.Unavailable, "store unavailable, retry later")
	}
	s.logger.Debug("ingested batch", "agent_id", req.GetAgentId(), "batch_id", req.GetBatchId(),
		"stored", res.Stored, "duplicates", res.Duplicates, "took", time.Since(start))
	return &hooktailv1.PushResponse{
		BatchId:    req.GetBatchId(),
		Stored:     uint32(res.Stored),
		Duplicates: uint32(res.Duplicates),
	}, nil
}

// InvalidEntryTrailer is the trailer key of an InvalidArgument answer to
// Push that names the entry at fault: its index in PushRequest.entries, in
// decimal. Absent when the store could not tell which entry it was.
const InvalidEntryTrailer = hooktailv1.InvalidEntryTrailer

// invalidEntry is the answer to a batch the store can never accept: a
// non-retryable InvalidArgument whose message names the entry (and which
// also goes into the InvalidEntryTrailer), never the store's error text.
func invalidEntry(ctx context.Context, index, n int) error {
	if index < 0 || index >= n {
		return status.Error(codes.InvalidArgument,
			"the batch holds an entry that can never be stored; retrying the same batch will not help")
	}
	// Without a gRPC stream (a direct call) there is no trailer to set.
	_ = grpc.SetTrailer(ctx, metadata.Pairs(InvalidEntryTrailer, strconv.Itoa(index)))
	return status.Errorf(codes.InvalidArgument,
		"entry %d of the batch can never be stored; retrying the same batch will not help", index)
}

func (s *Server) authorize(ctx context.Context) error {
	if len(s.opts.Tokens) > 0 {
		md, _ := metadata.FromIncomingContext(ctx)
		for _, v := range md.Get("authorization") {
			tok, ok := strings.CutPrefix(v, "Bearer ")
			if !ok {
				continue
			}
			for _, want := range s.opts.Tokens {
				if subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1 {
					return nil
				}
			}
		}
		return status.Error(codes.Unauthenticated, "missing or invalid ingest token")
	}
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return status.Error(codes.PermissionDenied, "ingest is open to trusted networks only")
	}
	if addr, ok := peerAddr(p.Addr); ok && aggregator.Trusted(addr, s.opts.TrustedNetworks) {
		return nil
	}
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
