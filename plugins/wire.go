package plugins

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// The Parse call's messages, hooktail.v1.ParseRequest and ParseResponse,
// are encoded and decoded here by hand, in the protobuf wire format of
// proto/hooktail/v1/parser.proto and entry.proto: the generated code would
// allocate a message per record and entry and a string per field, which
// cost more than parsing the records. The bytes on the wire
// are the same, so a plugin in another language speaks the generated
// protocol; wire_internal_test.go checks both ways against the generated
// code. Field numbers below are those of the .proto files.

// wireMessage is one Parse message already in wire format. wireCodec
// passes it through; to gRPC's own proto codec (a server not built by
// ServeConfig) it is a legacy message with Marshal and Unmarshal methods.
type wireMessage struct {
	b []byte
	// buf, when set, holds b and goes back to its pool once gRPC has sent
	// it, or once the receiver calls free.
	buf mem.Buffer
}

// Reset, String and ProtoMessage make wireMessage a (legacy) proto message.
func (m *wireMessage) Reset()         { m.free() }
func (m *wireMessage) String() string { return fmt.Sprintf("wireMessage(%d bytes)", len(m.b)) }
func (*wireMessage) ProtoMessage()    {}

// Marshal returns the encoded message; gRPC copies it into its buffer.
func (m *wireMessage) Marshal() ([]byte, error) { return m.b, nil }

// Unmarshal keeps a copy of b: gRPC reuses b once it returns.
func (m *wireMessage) Unmarshal(b []byte) error {
	m.b = append([]byte(nil), b...)
	return nil
}

// free gives a received message's buffer back to its pool; b must not be
// used afterwards.
func (m *wireMessage) free() {
	if m.buf != nil {
		m.buf.Free()
	}
	m.b, m.buf = nil, nil
}

// bufferPool recycles the buffers of Parse messages (a mem.BufferPool).
type bufferPool struct {
	pool sync.Pool
}

// maxPooledBuffer is the largest buffer kept for reuse.
const maxPooledBuffer = 16 << 20

func (p *bufferPool) Get(length int) *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		if cap(*b) >= length {
			*b = (*b)[:length]
			return b
		}
		p.pool.Put(b)
	}
	b := make([]byte, length)
	return &b
}

func (p *bufferPool) Put(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		p.pool.Put(b)
	}
}

// wireCodec is the gRPC codec of both ends of a plugin connection: a
// wireMessage goes out and comes in as it is, without the proto codec's
// buffer copies; any other message is the proto codec's. It is named
// "proto", as the bytes are protobuf.
type wireCodec struct {
	proto encoding.CodecV2
	// pool, if set, takes the messages received: their receiver frees
	// them. Without it they are copied into memory of their own.
	pool *bufferPool
}

func newWireCodec(pool *bufferPool) wireCodec {
	c := encoding.GetCodecV2(grpcproto.Name)
	if c == nil {
		panic("BUG: gRPC's proto codec is not registered")
	}
	return wireCodec{proto: c, pool: pool}
}

func (c wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*wireMessage)
	switch {
	case !ok:
		return c.proto.Marshal(v)
	case m.buf != nil:
		b := m.buf // gRPC frees it once sent
		m.b, m.buf = nil, nil
		return mem.BufferSlice{b}, nil
	case len(m.b) == 0:
		return nil, nil
	default:
		return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
	}
}

func (c wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*wireMessage)
	switch {
	case !ok:
		return c.proto.Unmarshal(data, v)
	case c.pool != nil:
		m.buf = data.MaterializeToBuffer(c.pool)
		m.b = m.buf.ReadOnlyData()
	default:
		m.b = data.Materialize() // data is reused once this returns
	}
	return nil
}

func (wireCodec) Name() string { return grpcproto.Name }

var errWire = errors.New("malformed protobuf message")

// appendParseRequest encodes a ParseRequest.
func appendParseRequest(b []byte, req *ParseRequest) []byte {
	for i := range req.Records {
		r := &req.Records[i]
		n := 0
		if len(r.Data) > 0 {
			n += protowire.SizeTag(1) + protowire.SizeBytes(len(r.Data))
		}
		if r.File != "" {
			n += protowire.SizeTag(2) + protowire.SizeBytes(len(r.File))
		}
		if r.Offset != 0 {
			n += protowire.SizeTag(3) + protowire.SizeVarint(uint64(r.Offset))
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		b = appendBytesField(b, 1, r.Data)
		b = appendStringField(b, 2, r.File)
		b = appendVarintField(b, 3, uint64(r.Offset))
	}
	if tz := timezoneToProto(req.Location); tz != "" {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, tz)
	}
	return b
}

// parseRequestSize is about the encoded size of req, to allocate once.
func parseRequestSize(req *ParseRequest) int {
	n := 16
	for i := range req.Records {
		n += len(req.Records[i].Data) + len(req.Records[i].File) + 24
	}
	return n
}

// decodeParseRequest appends the records of an encoded ParseRequest to
// dst; their Data alias b, and the files of consecutive records share one
// string.
func decodeParseRequest(dst []Record, b []byte) ([]Record, string, error) {
	var tz string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return dst, "", errWire
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return dst, "", errWire
			}
			b = b[n:]
			var prev string
			if len(dst) > 0 {
				prev = dst[len(dst)-1].File
			}
			r, err := decodeRecord(v, prev)
			if err != nil {
				return dst, "", err
			}
			dst = append(dst, r)
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return dst, "", errWire
			}
			b = b[n:]
			tz = string(v)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return dst, "", errWire
			}
			b = b[n:]
		}
	}
	return dst, tz, nil
}

func decodeRecord(b []byte, prevFile string) (Record, error) {
	var r Record
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, errWire
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return r, errWire
			}
			b = b[n:]
			r.Data = v[:len(v):len(v)] // a parser's append must not reach the next record
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return r, errWire
			}
			b = b[n:]
			if string(v) == prevFile {
				r.File = prevFile
			} else {
				r.File = string(v)
			}
		case num == 3 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return r, errWire
			}
			b = b[n:]
			r.Offset = int64(v)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return r, errWire
			}
			b = b[n:]
		}
	}
	return r, nil
}

// appendParseResponse encodes a ParseResponse of entries.
func appendParseResponse(b []byte, entries []Entry) []byte {
	for i := range entries {
		b = appendMessage(b, 1, &entries[i], appendEntry)
	}
	return b
}

// appendMessage encodes a message field: its body is written in place
// after a one-byte length, which moves it when its length takes more.
func appendMessage[T any](b []byte, num protowire.Number, v *T, body func([]byte, *T) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	start := len(b)
	b = body(append(b, 0), v)
	n := len(b) - start - 1
	if size := protowire.SizeVarint(uint64(n)); size > 1 {
		for range size - 1 {
			b = append(b, 0)
		}
		copy(b[start+size:], b[start+1:start+1+n])
	}
	protowire.AppendVarint(b[:start], uint64(n))
	return b
}

// parseResponseSize is about the encoded size of entries.
func parseResponseSize(entries []Entry) int {
	n := 16
	for i := range entries {
		e := &entries[i]
		n += 96 + len(e.TimestampRaw) + len(e.Level) + len(e.LoggerName) + len(e.Message) + len(e.HookID) +
			len(e.EventType) + len(e.Repository) + len(e.GithubUser) + len(e.TaskID) + len(e.TaskType) +
			len(e.TaskStatus) + len(e.Step) + len(e.ExcInfo) + len(e.Details)
	}
	return n
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendOptionalField encodes a proto3 optional integer: present even when
// zero.
func appendOptionalField(b []byte, num protowire.Number, v *int64) []byte {
	if v == nil {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(*v))
}

func boolValue(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

// appendEntry encodes the fields of an Entry (identity fields 1-4 are the
// agent's and stay empty), as entryToProto and proto.Marshal would.
func appendEntry(b []byte, e *Entry) []byte {
	b = appendVarintField(b, 5, uint64(e.TimestampUS))
	b = appendStringField(b, 6, e.TimestampRaw)
	b = appendStringField(b, 7, e.Level)
	b = appendStringField(b, 8, e.LoggerName)
	b = appendStringField(b, 9, e.Message)
	b = appendStringField(b, 10, e.HookID)
	b = appendStringField(b, 11, e.EventType)
	b = appendStringField(b, 12, e.Repository)
	if e.PRNumber != 0 {
		b = appendOptionalField(b, 13, &e.PRNumber)
	}
	b = appendStringField(b, 14, e.GithubUser)
	b = appendStringField(b, 15, e.TaskID)
	b = appendStringField(b, 16, e.TaskType)
	b = appendStringField(b, 17, e.TaskStatus)
	b = appendOptionalField(b, 18, e.TokenSpend)
	b = appendStringField(b, 19, e.Step)
	b = appendStringField(b, 20, e.ExcInfo)
	b = appendVarintField(b, 21, boolValue(e.ParseError))
	b = appendVarintField(b, 22, boolValue(e.Truncated))
	b = appendBytesField(b, 23, e.Details)
	b = appendVarintField(b, 24, uint64(int64(int32(e.Kind)))) // an enum is an int32
	if e.Completion != nil {
		b = appendMessage(b, 25, e.Completion, appendCompletion)
	}
	b = appendVarintField(b, 26, e.DedupeKey)
	return b
}

func appendCompletion(b []byte, c *Completion) []byte {
	b = appendStringField(b, 1, c.Status)
	b = appendOptionalField(b, 2, c.DurationMS)
	if c.PRNumber != 0 {
		b = appendOptionalField(b, 3, &c.PRNumber)
	}
	b = appendOptionalField(b, 4, c.TokenSpend)
	for i := range c.Steps {
		b = appendMessage(b, 5, &c.Steps[i], appendStep)
	}
	b = appendStringField(b, 6, c.Action)
	b = appendStringField(b, 7, c.Sender)
	b = appendStringField(b, 8, c.RepositoryFullName)
	b = appendStringField(b, 9, c.PRTitle)
	b = appendStringField(b, 10, c.APIUser)
	b = appendVarintField(b, 11, uint64(c.StartedAtUS))
	b = appendVarintField(b, 12, uint64(c.CompletedAtUS))
	if c.Error != nil {
		b = appendMessage(b, 13, c.Error, appendErrorInfo)
	}
	return b
}

func appendStep(b []byte, s *Step) []byte {
	b = appendStringField(b, 1, s.Name)
	b = appendStringField(b, 2, s.Status)
	b = appendVarintField(b, 3, uint64(s.StartedAtUS))
	b = appendOptionalField(b, 4, s.DurationMS)
	if s.Error != nil {
		b = appendMessage(b, 5, s.Error, appendErrorInfo)
	}
	b = appendBytesField(b, 6, s.Details)
	return b
}

func appendErrorInfo(b []byte, e *ErrorInfo) []byte {
	b = appendStringField(b, 1, e.Type)
	b = appendStringField(b, 2, e.Message)
	b = appendStringField(b, 3, e.Traceback)
	return b
}

// wireReader decodes a message held in b, taking string fields as
// substrings of s, the same memory seen as a string: an entry's strings
// cost no allocation of their own.
type wireReader struct {
	b []byte
	s string
}

// newWireReader reads b, which must never change afterwards: the strings
// read from it share its memory.
func newWireReader(b []byte) wireReader {
	return wireReader{b: b, s: unsafe.String(unsafe.SliceData(b), len(b))}
}

func (r wireReader) sub(off, n int) wireReader {
	return wireReader{b: r.b[off : off+n], s: r.s[off : off+n]}
}

// field is one decoded field: a varint value or the extent of a
// length-delimited one.
type field struct {
	num   protowire.Number
	typ   protowire.Type
	v     uint64
	start int
	end   int
}

// next reads the field at off; ok is false at the end, err set if
// malformed. Fields of other wire types are skipped by the caller's
// default case, as protobuf treats them as unknown.
func (r wireReader) next(off int) (f field, next int, err error) {
	b := r.b
	// Fields 1 to 15 have one-byte tags, and most values and lengths fit a
	// byte: those skip protowire's general decoding.
	if c := b[off]; c < 0x80 && c >= 8 {
		f.num, f.typ = protowire.Number(c>>3), protowire.Type(c&7)
		off++
	} else {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return f, 0, errWire
		}
		f.num, f.typ = num, typ
		off += n
	}
	switch f.typ {
	case protowire.VarintType:
		if off < len(b) && b[off] < 0x80 {
			f.v = uint64(b[off])
			return f, off + 1, nil
		}
		v, n := protowire.ConsumeVarint(b[off:])
		if n < 0 {
			return f, 0, errWire
		}
		f.v = v
		return f, off + n, nil
	case protowire.BytesType:
		var v uint64
		if off < len(b) && b[off] < 0x80 {
			v = uint64(b[off])
			off++
		} else {
			var n int
			if v, n = protowire.ConsumeVarint(b[off:]); n < 0 {
				return f, 0, errWire
			}
			off += n
		}
		if v > uint64(len(b)-off) {
			return f, 0, errWire
		}
		f.start = off
		f.end = off + int(v)
		return f, f.end, nil
	default:
		n := protowire.ConsumeFieldValue(f.num, f.typ, b[off:])
		if n < 0 {
			return f, 0, errWire
		}
		return f, off + n, nil
	}
}

func (r wireReader) str(f field) string { return r.s[f.start:f.end] }

// decodeParseResponse appends the entries of an encoded ParseResponse to
// dst.
func decodeParseResponse(dst []Entry, r wireReader) ([]Entry, error) {
	for off := 0; off < len(r.b); {
		f, next, err := r.next(off)
		if err != nil {
			return dst, err
		}
		off = next
		if f.num == 1 && f.typ == protowire.BytesType {
			dst = append(dst, Entry{})
			if err := decodeEntry(&dst[len(dst)-1], r.sub(f.start, f.end-f.start)); err != nil {
				return dst, err
			}
		}
	}
	return dst, nil
}

func decodeEntry(e *Entry, r wireReader) error {
	for off := 0; off < len(r.b); {
		f, next, err := r.next(off)
		if err != nil {
			return err
		}
		off = next
		if f.typ == protowire.BytesType {
			switch f.num {
			case 6:
				e.TimestampRaw = r.str(f)
			case 7:
				e.Level = r.str(f)
			case 8:
				e.LoggerName = r.str(f)
			case 9:
				e.Message = r.str(f)
			case 10:
				e.HookID = r.str(f)
			case 11:
				e.EventType = r.str(f)
			case 12:
				e.Repository = r.str(f)
			case 14:
				e.GithubUser = r.str(f)
			case 15:
				e.TaskID = r.str(f)
			case 16:
				e.TaskType = r.str(f)
			case 17:
				e.TaskStatus = r.str(f)
			case 19:
				e.Step = r.str(f)
			case 20:
				e.ExcInfo = r.str(f)
			case 23:
				e.Details = detailsFromWire(r.str(f))
			case 25:
				if e.Completion == nil {
					e.Completion = &Completion{}
				}
				if err := decodeCompletion(e.Completion, r.sub(f.start, f.end-f.start)); err != nil {
					return err
				}
			}
			continue
		}
		if f.typ != protowire.VarintType {
			continue
		}
		switch f.num {
		case 5:
			e.TimestampUS = int64(f.v)
		case 13:
			e.PRNumber = int64(f.v)
		case 18:
			e.TokenSpend = intPtr(int64(f.v))
		case 21:
			e.ParseError = protowire.DecodeBool(f.v)
		case 22:
			e.Truncated = protowire.DecodeBool(f.v)
		case 24:
			e.Kind = Kind(int32(f.v))
		case 26:
			e.DedupeKey = f.v
		}
	}
	return nil
}

// decodeCompletion merges an encoded Completion into c, as protobuf
// merges a message field that occurs twice.
func decodeCompletion(c *Completion, r wireReader) error {
	for off := 0; off < len(r.b); {
		f, next, err := r.next(off)
		if err != nil {
			return err
		}
		off = next
		if f.typ == protowire.BytesType {
			switch f.num {
			case 1:
				c.Status = r.str(f)
			case 5:
				c.Steps = append(c.Steps, Step{})
				if err := decodeStep(&c.Steps[len(c.Steps)-1], r.sub(f.start, f.end-f.start)); err != nil {
					return err
				}
			case 6:
				c.Action = r.str(f)
			case 7:
				c.Sender = r.str(f)
			case 8:
				c.RepositoryFullName = r.str(f)
			case 9:
				c.PRTitle = r.str(f)
			case 10:
				c.APIUser = r.str(f)
			case 13:
				if c.Error == nil {
					c.Error = &ErrorInfo{}
				}
				if err := decodeErrorInfo(c.Error, r.sub(f.start, f.end-f.start)); err != nil {
					return err
				}
			}
			continue
		}
		if f.typ != protowire.VarintType {
			continue
		}
		switch f.num {
		case 2:
			c.DurationMS = intPtr(int64(f.v))
		case 3:
			c.PRNumber = int64(f.v)
		case 4:
			c.TokenSpend = intPtr(int64(f.v))
		case 11:
			c.StartedAtUS = int64(f.v)
		case 12:
			c.CompletedAtUS = int64(f.v)
		}
	}
	return nil
}

func decodeStep(s *Step, r wireReader) error {
	for off := 0; off < len(r.b); {
		f, next, err := r.next(off)
		if err != nil {
			return err
		}
		off = next
		switch {
		case f.typ == protowire.BytesType && f.num == 1:
			s.Name = r.str(f)
		case f.typ == protowire.BytesType && f.num == 2:
			s.Status = r.str(f)
		case f.typ == protowire.VarintType && f.num == 3:
			s.StartedAtUS = int64(f.v)
		case f.typ == protowire.VarintType && f.num == 4:
			s.DurationMS = intPtr(int64(f.v))
		case f.typ == protowire.BytesType && f.num == 5:
			if s.Error == nil {
				s.Error = &ErrorInfo{}
			}
			if err := decodeErrorInfo(s.Error, r.sub(f.start, f.end-f.start)); err != nil {
				return err
			}
		case f.typ == protowire.BytesType && f.num == 6:
			s.Details = detailsFromWire(r.str(f))
		}
	}
	return nil
}

func decodeErrorInfo(e *ErrorInfo, r wireReader) error {
	for off := 0; off < len(r.b); {
		f, next, err := r.next(off)
		if err != nil {
			return err
		}
		off = next
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			e.Type = r.str(f)
		case 2:
			e.Message = r.str(f)
		case 3:
			e.Traceback = r.str(f)
		}
	}
	return nil
}

// detailsFromWire copies the details: a json.RawMessage may be changed by
// its holder, and the wire buffer backs the entry's strings.
func detailsFromWire(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func intPtr(v int64) *int64 { return &v }
