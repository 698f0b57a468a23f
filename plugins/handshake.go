package plugins

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// The go-plugin handshake of a parser plugin. The magic cookie only tells a
// user who runs a plugin binary by hand that it is meant to be started by
// the agent; it is no security measure. ProtocolVersion is the
// compatibility gate: a plugin built with another version is refused at
// start.
const (
	MagicCookieKey   = "HOOKTAIL_PARSER_PLUGIN"
	MagicCookieValue = "7c1f5d0a-parser-hooktail"
)

// PluginName is the name under which a parser is served and dispensed.
const PluginName = "parser"

// MaxMessageBytes bounds one gRPC message between the agent and a plugin,
// both ways. A batch holds up to 64 MiB of record data (and one record up
// to 64 MiB goes alone); its entries repeat the message and add fields, so
// the answer can be twice the request. gRPC's default of 4 MiB would refuse
// an ordinary 8 MiB batch.
const MaxMessageBytes = 512 << 20

// HandshakeConfig returns the handshake both sides of a parser plugin use.
func HandshakeConfig() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// PluginSet returns the go-plugin plugin set of a parser plugin: impl is
// the parser served, nil on the agent's side.
func PluginSet(impl Parser) plugin.PluginSet {
	return plugin.PluginSet{PluginName: &GRPCPlugin{Impl: impl}}
}

// Errors of the plugin client (the Parser GRPCPlugin dispenses) that its
// host acts on; test them with errors.Is.
var (
	// ErrUnavailable means the plugin could not be reached: its process
	// exited or the connection broke. Restarting it may help.
	ErrUnavailable = errors.New("parser plugin unavailable")
	// ErrContract means the plugin broke the parser protocol in a way that
	// asking again will not fix: not one entry per record, or a protocol
	// version this SDK does not speak.
	ErrContract = errors.New("parser plugin broke the protocol")
)

// GRPCPlugin is the go-plugin glue of the parser protocol
// (proto/hooktail/v1/parser.proto): on the plugin's side it serves Impl
// over gRPC, on the agent's side it dispenses a Parser that calls the
// plugin. Generated proto types stay inside this package.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the parser served; nil on the agent's side.
	Impl Parser
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the parser service for Impl.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("serve parser plugin: no parser")
	}
	s.RegisterService(&parserServiceDesc, newGRPCServer(p.Impl))
	return nil
}

// GRPCClient returns a Parser that calls the plugin over conn. Every call
// takes its context's deadline and cancellation to the plugin.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return newGRPCClient(conn), nil
}
