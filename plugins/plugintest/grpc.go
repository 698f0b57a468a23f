package plugintest

import (
	"context"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/hooktail/hooktail/plugins"
)

// GRPC serves p the way plugins.Serve does (go-plugin's gRPC server with
// the SDK's limits and protocol shims) inside the test process, connects a
// go-plugin client to it and returns the agent's side: a Parser whose every
// call crosses the real protocol. The server stops when the test ends.
func GRPC(t testing.TB, p plugins.Parser) plugins.Parser {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	cfg := plugins.ServeConfig(p)
	cfg.Logger = hclog.NewNullLogger()
	cfg.Test = &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed}
	go plugin.Serve(cfg)

	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case <-closed:
		cancel()
		t.Fatalf("serve parser plugin in-process: the server stopped before serving")
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugins.HandshakeConfig(),
		Plugins:          plugins.PluginSet(nil),
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  plugins.DialOptions(),
		Logger:           hclog.NewNullLogger(),
	})
	stop := func() {
		cancel()
		<-closed
		client.Kill()
	}
	rpc, err := client.Client()
	if err != nil {
		stop()
		t.Fatalf("connect to in-process parser plugin: %v", err)
	}
	raw, err := rpc.Dispense(plugins.PluginName)
	if err != nil {
		_ = rpc.Close()
		stop()
		t.Fatalf("dispense in-process parser plugin: %v", err)
	}
	// The server stops first: a client's Close asks it to stop too, and
	// go-plugin's two stops race with each other.
	t.Cleanup(func() {
		stop()
		_ = rpc.Close()
	})
	return raw.(plugins.Parser)
}
