package plugins_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/plugintest"
	"github.com/hooktail/hooktail/plugins/webhookserver"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// wireBatch is 2000 realistic records and their entries.
func wireBatch(b *testing.B) ([]plugins.Record, []plugins.Entry) {
	b.Helper()
	p := webhookserver.New()
	var pool []plugins.Record
	for _, f := range []string{"webhook-server.log", "webhook-server.log.1"} {
		data, err := os.ReadFile(filepath.Join("..", "examples", "logs", f))
		if err != nil {
			b.Fatal(err)
		}
		var cur []byte
		for line := range bytes.Lines(data) {
			line = bytes.TrimSuffix(line, []byte("\n"))
			if cur != nil && p.IsRecordStart(line) {
				pool = append(pool, plugins.Record{Data: cur})
				cur = nil
			}
			if cur != nil {
				cur = append(cur, '\n')
			}
			cur = append(cur, line...)
		}
	}
	recs := make([]plugins.Record, 2000)
	for i := range recs {
		recs[i] = pool[i%len(pool)]
	}
	es, err := p.Parse(b.Context(), &plugins.ParseRequest{Records: recs, Location: time.UTC}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return recs, es
}

// BenchmarkWire compares the hand-written Parse codec with the generated
// one on a realistic batch, per record, against the parse itself.
func BenchmarkWire(b *testing.B) {
	recs, entries := wireBatch(b)
	generated, err := proto.Marshal(plugins.GeneratedParseResponse(entries))
	if err != nil {
		b.Fatal(err)
	}
	perRecord := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
	}
	b.Run("parse", func(b *testing.B) {
		p := webhookserver.New()
		dst := make([]plugins.Entry, 0, len(recs))
		for b.Loop() {
			dst, _ = p.Parse(b.Context(), &plugins.ParseRequest{Records: recs, Location: time.UTC}, dst[:0])
		}
		perRecord(b)
	})
	b.Run("encode/hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			plugins.EncodeParseResponse(entries, recs)
		}
		perRecord(b)
	})
	b.Run("encode/generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := proto.Marshal(plugins.GeneratedParseResponse(entries)); err != nil {
				b.Fatal(err)
			}
		}
		perRecord(b)
	})
	b.Run("decode/hand", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]plugins.Entry, 0, len(recs))
		for b.Loop() {
			wire := bytes.Clone(generated) // as the codec copies it
			var err error
			if dst, err = plugins.DecodeParseResponse(dst[:0], wire, recs); err != nil {
				b.Fatal(err)
			}
		}
		perRecord(b)
	})
	b.Run("decode/generated", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]plugins.Entry, len(recs))
		for b.Loop() {
			var resp hooktailv1.ParseResponse
			if err := proto.Unmarshal(generated, &resp); err != nil {
				b.Fatal(err)
			}
			for i, w := range resp.Entries {
				plugins.GeneratedEntryFromProto(&dst[i], w)
			}
		}
		perRecord(b)
	})
}

// BenchmarkGRPCInProcess parses the batch through the whole gRPC path
// (go-plugin server and client, the SDK's codec) inside one process, so
// that one CPU profile shows all of its cost.
func BenchmarkGRPCInProcess(b *testing.B) {
	recs, _ := wireBatch(b)
	p := plugintest.GRPC(b, webhookserver.New())
	req := &plugins.ParseRequest{Records: recs, Location: time.UTC}
	dst := make([]plugins.Entry, 0, len(recs))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = p.Parse(b.Context(), req, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
