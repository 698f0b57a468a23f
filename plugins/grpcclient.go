package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// grpcClient is a Parser that calls a plugin process over the parser
// protocol. It is safe for concurrent use, as the connection is.
type grpcClient struct {
	conn   grpc.ClientConnInterface
	client hooktailv1.ParserClient
	// opts lift gRPC's 4 MiB default message limit to MaxMessageBytes,
	// whatever the connection's defaults.
	opts []grpc.CallOption
	// parseOpts add wireCodec for Parse.
	parseOpts []grpc.CallOption
	// requests pools the buffers requests are encoded in (*[]byte).
	requests sync.Pool
}

var _ Parser = (*grpcClient)(nil)

func newGRPCClient(conn grpc.ClientConnInterface) *grpcClient {
	opts := []grpc.CallOption{grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)}
	return &grpcClient{
		conn:      conn,
		client:    hooktailv1.NewParserClient(conn),
		opts:      opts,
		parseOpts: append(opts[:len(opts):len(opts)], grpc.ForceCodecV2(newWireCodec(nil))),
	}
}

// Describe asks the plugin for its description and refuses one of another
// protocol version with ErrContract.
func (c *grpcClient) Describe(ctx context.Context) (Description, error) {
	resp, err := c.client.Describe(ctx, &hooktailv1.DescribeRequest{}, c.opts...)
	if err != nil {
		return Description{}, callError(ctx, "describe", err)
	}
	d, version := descriptionFromProto(resp)
	if version != ProtocolVersion {
		return Description{}, fmt.Errorf("describe: %w: parser %q speaks parser protocol %d, this side speaks %d",
			ErrContract, d.Name, version, ProtocolVersion)
	}
	return d, nil
}

// ValidateConfig hands config to the plugin as it is.
func (c *grpcClient) ValidateConfig(ctx context.Context, config json.RawMessage) (Diagnostics, error) {
	resp, err := c.client.ValidateConfig(ctx, &hooktailv1.ValidateConfigRequest{ConfigJson: configToProto(config)}, c.opts...)
	if err != nil {
		return nil, callError(ctx, "validate config", err)
	}
	return diagnosticsFromProto(resp.GetDiagnostics()), nil
}

// Configure hands config to the plugin as it is.
func (c *grpcClient) Configure(ctx context.Context, config json.RawMessage) (Diagnostics, error) {
	resp, err := c.client.Configure(ctx, &hooktailv1.ConfigureRequest{ConfigJson: configToProto(config)}, c.opts...)
	if err != nil {
		return nil, callError(ctx, "configure", err)
	}
	return diagnosticsFromProto(resp.GetDiagnostics()), nil
}

// A batch of more than chunkRecords records is sent in parts of about
// chunkRecords, up to maxInFlight at once, so that the agent encodes and
// decodes some while the plugin parses others, on every core; the plugin's
// Parse is safe for concurrent use.
const (
	chunkRecords = 512
	maxInFlight  = 4
)

// Parse sends the batch to the plugin. An answer without exactly one entry
// per record fails the whole batch with ErrContract; an entry that
// CheckEntry refuses is replaced by its record, raw and flagged
// ParseError. On error dst comes back as it was.
func (c *grpcClient) Parse(ctx context.Context, req *ParseRequest, dst []Entry) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return dst, fmt.Errorf("parse: %w", err)
	}
	if req == nil || len(req.Records) == 0 {
		return dst, nil
	}
	n, total := len(dst), len(req.Records)
	dst = slices.Grow(dst, total)[:n+total]
	chunks := (total + chunkRecords - 1) / chunkRecords
	if chunks <= 1 {
		if err := c.parseChunk(ctx, req.Records, req.Location, dst[n:]); err != nil {
			clear(dst[n:])
			return dst[:n], err
		}
		return dst, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxInFlight)
	for i := range chunks {
		lo, hi := total*i/chunks, total*(i+1)/chunks
		g.Go(func() error { return c.parseChunk(gctx, req.Records[lo:hi], req.Location, dst[n+lo:n+hi]) })
	}
	if err := g.Wait(); err != nil {
		clear(dst[n:])
		if ctx.Err() != nil {
			err = fmt.Errorf("parse: %w", ctx.Err())
		}
		return dst[:n], err
	}
	return dst, nil
}

// parseChunk parses records in one call into out, which has one slot per
// record.
func (c *grpcClient) parseChunk(ctx context.Context, records []Record, loc *time.Location, out []Entry) error {
	req := &ParseRequest{Records: records, Location: loc}
	buf := c.requestBuffer(parseRequestSize(req))
	in := &wireMessage{b: appendParseRequest((*buf)[:0], req)}
	resp := new(wireMessage)
	err := c.conn.Invoke(ctx, hooktailv1.Parser_Parse_FullMethodName, in, resp, c.parseOpts...)
	*buf = in.b // gRPC is done with it once the call returns
	c.putRequestBuffer(buf)
	if err != nil {
		return callError(ctx, "parse", err)
	}
	got, err := decodeParseResponse(out[:0:len(out)], newWireReader(resp.b))
	if err != nil {
		return fmt.Errorf("parse: %w: decode the answer: %v", ErrContract, err)
	}
	if len(got) != len(records) {
		return fmt.Errorf("parse: %w: %d entries for %d records", ErrContract, len(got), len(records))
	}
	fixEntries(out, records)
	return nil
}

// maxPooledRequest is the largest request buffer kept for the next call.
const maxPooledRequest = 4 << 20

func (c *grpcClient) requestBuffer(size int) *[]byte {
	if size <= maxPooledRequest {
		if b, ok := c.requests.Get().(*[]byte); ok && cap(*b) >= size {
			return b
		}
	}
	b := make([]byte, 0, size)
	return &b
}

func (c *grpcClient) putRequestBuffer(b *[]byte) {
	if cap(*b) <= maxPooledRequest {
		c.requests.Put(b)
	}
}

// callError says what a failed call means to the caller: its own context's
// error when that is done, ErrUnavailable when the plugin is gone, else
// the plugin's message.
func callError(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unavailable, codes.Canceled:
		return fmt.Errorf("%s: %w: %s", op, ErrUnavailable, st.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w: %s", op, context.DeadlineExceeded, st.Message())
	case codes.Unknown:
		return fmt.Errorf("%s: plugin: %s", op, st.Message())
	default:
		return fmt.Errorf("%s: plugin: %s: %s", op, st.Code(), st.Message())
	}
}
