package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// grpcServer serves a Parser over the parser protocol, in the plugin's
// process.
type grpcServer struct {
	impl Parser
	// zones caches the locations of ParseRequest.timezone (string to
	// *time.Location): loading one reads the zone database.
	zones sync.Map
	// buffers pools the slices of one Parse call (*parseBuffers).
	buffers sync.Pool
	// out pools the encoded answers, which gRPC gives back once sent.
	out bufferPool
}

// parseBuffers are the slices one Parse call reuses from the last.
type parseBuffers struct {
	records []Record
	entries []Entry
}

// maxPooledEntries bounds the slices kept for the next call: those of a
// huge batch go to the garbage collector.
const maxPooledEntries = 1 << 16

func newGRPCServer(impl Parser) *grpcServer { return &grpcServer{impl: impl} }

// parserServiceDesc is the hooktail.v1.Parser service with a hand-coded
// Parse (see wire.go); the other methods use the generated messages.
var parserServiceDesc = grpc.ServiceDesc{
	ServiceName: "hooktail.v1.Parser",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Describe", Handler: unaryHandler(hooktailv1.Parser_Describe_FullMethodName, (*grpcServer).Describe)},
		{MethodName: "ValidateConfig", Handler: unaryHandler(hooktailv1.Parser_ValidateConfig_FullMethodName, (*grpcServer).ValidateConfig)},
		{MethodName: "Configure", Handler: unaryHandler(hooktailv1.Parser_Configure_FullMethodName, (*grpcServer).Configure)},
		{MethodName: "Parse", Handler: unaryHandler(hooktailv1.Parser_Parse_FullMethodName, (*grpcServer).Parse)},
	},
	Metadata: "hooktail/v1/parser.proto",
}

// unaryHandler adapts a method of grpcServer to gRPC.
func unaryHandler[Req, Resp any](method string, call func(*grpcServer, context.Context, *Req) (*Resp, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		in := new(Req)
		if err := dec(in); err != nil {
			return nil, err
		}
		s := srv.(*grpcServer)
		if interceptor == nil {
			return call(s, ctx, in)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: method}
		return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
			return call(s, ctx, req.(*Req))
		})
	}
}

func (s *grpcServer) Describe(ctx context.Context, _ *hooktailv1.DescribeRequest) (*hooktailv1.DescribeResponse, error) {
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return descriptionToProto(d), nil
}

func (s *grpcServer) ValidateConfig(ctx context.Context, req *hooktailv1.ValidateConfigRequest) (*hooktailv1.ValidateConfigResponse, error) {
	ds, err := s.impl.ValidateConfig(ctx, configFromProto(req.GetConfigJson()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &hooktailv1.ValidateConfigResponse{Diagnostics: diagnosticsToProto(ds)}, nil
}

func (s *grpcServer) Configure(ctx context.Context, req *hooktailv1.ConfigureRequest) (*hooktailv1.ConfigureResponse, error) {
	ds, err := s.impl.Configure(ctx, configFromProto(req.GetConfigJson()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &hooktailv1.ConfigureResponse{Diagnostics: diagnosticsToProto(ds)}, nil
}

// Parse parses one batch (an encoded ParseRequest) and answers an encoded
// ParseResponse. Entries that could not be marshalled (invalid UTF-8) or
// stored (a time out of range) go back as their records, raw and flagged;
// the agent checks the number of entries.
func (s *grpcServer) Parse(ctx context.Context, in *wireMessage) (*wireMessage, error) {
	defer in.free() // the records are parsed and their entries encoded by then
	buf, _ := s.buffers.Get().(*parseBuffers)
	if buf == nil {
		buf = new(parseBuffers)
	}
	defer s.putBuffers(buf)
	records, tz, err := decodeParseRequest(buf.records[:0], in.b)
	buf.records = records
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "decode parse request: %v", err)
	}
	loc, err := s.location(tz)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	entries, err := s.impl.Parse(ctx, &ParseRequest{Records: records, Location: loc}, buf.entries[:0])
	if cap(entries) <= maxPooledEntries {
		buf.entries = entries
	}
	if err != nil {
		return nil, toStatus(err)
	}
	// Entries beyond the records (a broken parser) are checked against an
	// empty record: they must still encode for the agent to see the count.
	checked := records
	if len(entries) > len(records) {
		checked = append(checked, make([]Record, len(entries)-len(records))...)
	}
	if n, first := fixEntries(entries, checked[:len(entries)]); n > 0 {
		slog.Warn("parser returned entries that cannot be shipped; their records go raw, flagged parse_error",
			"entries", n, "records", len(records), "first", first)
	}
	out := s.out.Get(parseResponseSize(entries))
	b := appendParseResponse((*out)[:0], entries)
	if cap(b) != cap(*out) { // outgrew the estimate
		s.out.Put(out)
		return &wireMessage{b: b}, nil
	}
	*out = b
	return &wireMessage{b: b, buf: mem.NewBuffer(out, &s.out)}, nil
}

func (s *grpcServer) putBuffers(buf *parseBuffers) {
	if cap(buf.records) > maxPooledEntries || cap(buf.entries) > maxPooledEntries {
		return
	}
	// Not cleared: the next call overwrites them, and what they still
	// point to is bounded by the pool.
	buf.records, buf.entries = buf.records[:0], buf.entries[:0]
	s.buffers.Put(buf)
}

// location loads and caches a zone by name; "" is UTC.
func (s *grpcServer) location(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if loc, ok := s.zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("load timezone %q in the plugin (import time/tzdata in the plugin if its host has no zone database): %w", name, err)
	}
	s.zones.Store(name, loc)
	return loc, nil
}

// toStatus carries a parser's error to the agent: context errors keep
// their meaning, anything else is the parser's own message.
func toStatus(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Unknown, err.Error())
}
