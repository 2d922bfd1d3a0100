// Package vtcodec is the gRPC codec of ns: protobuf on the wire, byte for
// byte what the standard codec sends, but marshalled and unmarshalled by the
// code protoc-gen-go-vtproto generates next to the messages
// (proto/ns/v1/*_vtproto.pb.go: MarshalVT, UnmarshalVT, SizeVT) instead of
// the reflection-driven google.golang.org/protobuf runtime. A message
// without that code (grpc.health.v1, server reflection, anything a caller
// passes through our connections) goes to the standard codec.
//
// It is installed explicitly, not registered globally: transport.NewServer
// adds ServerOption, client and node dial with DialOption. A process that
// imports ns therefore keeps the standard codec for its own gRPC servers and
// connections, and both codecs stay reachable side by side (the benchmarks
// compare them in one binary). Peers need not agree: the bytes are the same,
// so a node with this codec talks to one without it.
//
// One difference: the generated code does not check that proto3 string
// fields hold UTF-8, so Codec sends and accepts a message with an invalid
// string where the standard codec fails the call (TestInvalidUTF8). ns's
// strings are ASCII names, addresses and error texts.
//
// Figures (CPU per operation, allocations) are in docs/benchmarks.md, "The
// wire codec: vtprotobuf vs the standard codec".
package vtcodec

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// Name is the codec's name, the standard one's: gRPC sends it as the
// content-subtype ("application/grpc+proto"), which a peer using the
// standard codec accepts as its own.
const Name = grpcproto.Name

// Message is what protoc-gen-go-vtproto generates with the features
// marshal, unmarshal and size.
type Message interface {
	SizeVT() int
	MarshalToSizedBufferVT(dAtA []byte) (int, error)
	UnmarshalVT(dAtA []byte) error
	Reset()
}

// standard is gRPC's own protobuf codec, registered by the init of
// google.golang.org/grpc/encoding/proto (imported above, so it has run). We
// never register a codec under its name, so this is always the standard one.
var standard = encoding.GetCodecV2(grpcproto.Name)

// Codec is the encoding.CodecV2. Its zero value is ready to use.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// Standard returns gRPC's standard protobuf codec, the fallback (for
// benchmarks and tests).
func Standard() encoding.CodecV2 { return standard }

// ServerOption makes a gRPC server use Codec for every call.
func ServerOption() grpc.ServerOption { return grpc.ForceServerCodecV2(Codec{}) }

// DialOption makes every call on a gRPC connection use Codec.
func DialOption() grpc.DialOption {
	return grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec{}))
}

// Name returns Name.
func (Codec) Name() string { return Name }

// Marshal encodes v. Like the standard codec, a message of up to
// mem's pooling threshold gets its own slice, a bigger one a buffer from the
// default pool that gRPC frees once written.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(Message)
	if !ok {
		return standard.Marshal(v)
	}
	size := m.SizeVT()
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf := make([]byte, size)
		if err := marshalSized(m, buf); err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if err := marshalSized(m, *buf); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// marshalSized fills buf, exactly SizeVT bytes long. The generated code
// writes from the end backwards; if it wrote fewer bytes than it measured,
// the message changed in between (a data race in the caller).
func marshalSized(m Message, buf []byte) error {
	n, err := m.MarshalToSizedBufferVT(buf)
	if err != nil {
		return err
	}
	if n != len(buf) {
		return fmt.Errorf("vtcodec: %T marshalled to %d bytes, measured %d (modified while marshalling?)", m, n, len(buf))
	}
	return nil
}

// Unmarshal decodes data into v, replacing what v held (proto.Unmarshal's
// contract: UnmarshalVT alone would merge). The generated code copies every
// bytes and string field, so nothing in v aliases data, which gRPC reuses
// once this returns.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(Message)
	if !ok {
		return standard.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	m.Reset()
	return m.UnmarshalVT(buf.ReadOnlyData())
}
