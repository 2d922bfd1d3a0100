package vtcodec_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/wrapperspb"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/wire/vtcodec"
)

// nsMessages returns a new, every-field-set instance of each message type
// of package ns.v1: every request and response of its services and what
// they nest.
func nsMessages(t *testing.T) []proto.Message {
	t.Helper()
	var out []proto.Message
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if mt.Descriptor().ParentFile().Package() == "ns.v1" {
			m := mt.New()
			fill(m, 0)
			out = append(out, m.Interface())
		}
		return true
	})
	if len(out) < 40 {
		t.Fatalf("found %d ns.v1 message types; the registry walk is broken", len(out))
	}
	return out
}

// fill sets every field of m to a value distinct from its default: scalars,
// two list elements, two map entries, nested messages to depth 3, the first
// member of each oneof.
func fill(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && od.Fields().Get(0) != fd {
			continue
		}
		switch {
		case fd.IsList():
			if fd.Kind() == protoreflect.MessageKind && depth >= 3 {
				continue
			}
			l := m.Mutable(fd).List()
			for j := range 2 {
				if fd.Kind() == protoreflect.MessageKind {
					e := l.NewElement()
					fill(e.Message(), depth+1)
					l.Append(e)
				} else {
					l.Append(scalar(fd, j))
				}
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for j := range 2 {
				k := scalar(fd.MapKey(), j).MapKey()
				if fd.MapValue().Kind() == protoreflect.MessageKind {
					v := mp.NewValue()
					fill(v.Message(), depth+1)
					mp.Set(k, v)
				} else {
					mp.Set(k, scalar(fd.MapValue(), j))
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			if depth < 3 {
				fill(m.Mutable(fd).Message(), depth+1)
			}
		default:
			m.Set(fd, scalar(fd, 0))
		}
	}
}

func scalar(fd protoreflect.FieldDescriptor, j int) protoreflect.Value {
	n := int64(j) + 1 + int64(fd.Number())*1000
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(j == 0)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(vals.Len() - 1 - j%vals.Len()).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(-n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(-n << 33)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n) << 20)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n) << 40)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n) + 0.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) + 0.25)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("%s-%d-é", fd.Name(), j))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{byte(j), 0, 0xff, byte(fd.Number())})
	}
	panic(fmt.Sprintf("fill: unhandled kind %v of %s", fd.Kind(), fd.FullName()))
}

// split cuts b into BufferSlice pieces of at most n bytes, as gRPC hands
// over a message read in several frames.
func split(b []byte, n int) mem.BufferSlice {
	var s mem.BufferSlice
	for len(b) > n {
		s = append(s, mem.SliceBuffer(bytes.Clone(b[:n])))
		b = b[n:]
	}
	return append(s, mem.SliceBuffer(bytes.Clone(b)))
}

// TestRoundTripEveryMessage: every ns.v1 message takes the vt path, and what
// the codec writes the standard protobuf runtime reads, and the other way
// round (the wire format is the same, so a node with the codec talks to one
// without it).
func TestRoundTripEveryMessage(t *testing.T) {
	var c vtcodec.Codec
	for _, want := range nsMessages(t) {
		name := string(want.ProtoReflect().Descriptor().FullName())
		t.Run(name, func(t *testing.T) {
			if _, ok := want.(vtcodec.Message); !ok {
				t.Fatalf("%s has no vtproto methods: run make proto", name)
			}
			// vt codec -> standard runtime.
			out, err := c.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			wire := out.Materialize()
			out.Free()
			got := want.ProtoReflect().Type().New().Interface()
			if err := proto.Unmarshal(wire, got); err != nil {
				t.Fatalf("proto.Unmarshal of the vt codec's bytes: %v", err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("vt -> standard:\n got %v\nwant %v", got, want)
			}
			if len(wire) != proto.Size(want) {
				t.Errorf("vt codec wrote %d bytes, proto.Size says %d", len(wire), proto.Size(want))
			}
			// standard runtime -> vt codec, in 7-byte pieces.
			std, err := proto.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			got = want.ProtoReflect().Type().New().Interface()
			if err := c.Unmarshal(split(std, 7), got); err != nil {
				t.Fatalf("vt codec Unmarshal of proto.Marshal's bytes: %v", err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("standard -> vt:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestItemWireCompatible: an Item is byte for byte what the standard codec
// writes, and each codec reads the other's.
func TestItemWireCompatible(t *testing.T) {
	item := &nsv1.Item{Service: "kv", Key: []byte("user:0000000042"), Payload: bytes.Repeat([]byte{0xab}, 64), RequestId: 1 << 60, DeadlineUnixNano: 1_800_000_000_000_000_000}
	vt, err := vtcodec.Codec{}.Marshal(item)
	if err != nil {
		t.Fatal(err)
	}
	std, err := vtcodec.Standard().Marshal(item)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vt.Materialize(), std.Materialize()) {
		t.Fatalf("vt codec and standard codec disagree on an Item:\n vt  %x\n std %x", vt.Materialize(), std.Materialize())
	}
	for _, tc := range []struct {
		name     string
		from, to encoding.CodecV2
	}{
		{"vt->standard", vtcodec.Codec{}, vtcodec.Standard()},
		{"standard->vt", vtcodec.Standard(), vtcodec.Codec{}},
	} {
		b, err := tc.from.Marshal(item)
		if err != nil {
			t.Fatal(err)
		}
		var got nsv1.Item
		if err := tc.to.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b.Free()
		if !proto.Equal(&got, item) {
			t.Fatalf("%s: got %v, want %v", tc.name, &got, item)
		}
	}
	vt.Free()
	std.Free()
}

// TestFallback: a message without vtproto methods goes to the standard codec;
// a value that is no message at all fails as it does there.
func TestFallback(t *testing.T) {
	var c vtcodec.Codec
	for _, want := range []proto.Message{
		&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING},
		wrapperspb.String("not a vt message"),
	} {
		if _, ok := want.(vtcodec.Message); ok {
			t.Fatalf("%T has vtproto methods; pick another fallback message", want)
		}
		out, err := c.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got := want.ProtoReflect().Type().New().Interface()
		if err := c.Unmarshal(out, got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("fallback round trip: got %v, want %v", got, want)
		}
		out.Free()
	}
	if _, err := c.Marshal(struct{}{}); err == nil {
		t.Fatal("Marshal of a non-message succeeded")
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{8, 1})}, &struct{}{}); err == nil {
		t.Fatal("Unmarshal into a non-message succeeded")
	}
}

// TestUnmarshalReplaces: Unmarshal into a message that holds data replaces
// it (proto.Unmarshal's contract), where UnmarshalVT alone would merge.
func TestUnmarshalReplaces(t *testing.T) {
	var c vtcodec.Codec
	b, err := c.Marshal(&nsv1.StreamRequest{Id: 2, Items: []*nsv1.Item{{Key: []byte("b")}}})
	if err != nil {
		t.Fatal(err)
	}
	got := &nsv1.StreamRequest{Id: 1, TableEpoch: 9, Items: []*nsv1.Item{{Key: []byte("a")}}}
	if err := c.Unmarshal(b, got); err != nil {
		t.Fatal(err)
	}
	want := &nsv1.StreamRequest{Id: 2, Items: []*nsv1.Item{{Key: []byte("b")}}}
	if !proto.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestLargeMessage: a message above mem's pooling threshold is marshalled
// into a pooled buffer; the bytes are the standard codec's, and what
// Unmarshal decoded does not alias the buffer it came in.
func TestLargeMessage(t *testing.T) {
	var c vtcodec.Codec
	want := &nsv1.ForwardRequest{From: "n1", TableEpoch: 7}
	for i := range 512 {
		want.Items = append(want.Items, &nsv1.Item{Service: "kv", Key: fmt.Appendf(nil, "key-%04d", i), Payload: bytes.Repeat([]byte{byte(i)}, 200)})
	}
	if mem.IsBelowBufferPoolingThreshold(proto.Size(want)) {
		t.Fatalf("%d bytes is below the pooling threshold", proto.Size(want))
	}
	out, err := c.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	std, _ := proto.Marshal(want)
	if !bytes.Equal(out.Materialize(), std) {
		t.Fatal("vt codec's bytes differ from proto.Marshal's")
	}
	got := &nsv1.ForwardRequest{}
	if err := c.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	out.Free() // back to the pool: got must not see it reused
	junk := mem.DefaultBufferPool().Get(len(std))
	for i := range *junk {
		(*junk)[i] = 0x5a
	}
	if !proto.Equal(got, want) {
		t.Fatal("decoded message changed after its buffer went back to the pool")
	}
	mem.DefaultBufferPool().Put(junk)
}

// echoNode answers NodeService.Send with the item's payload.
type echoNode struct {
	nsv1.UnimplementedNodeServiceServer
}

func (echoNode) Send(_ context.Context, req *nsv1.SendRequest) (*nsv1.SendResponse, error) {
	return &nsv1.SendResponse{Payload: req.GetItem().GetPayload()}, nil
}

// TestGRPCInterop: a client and a server, each with the vt codec or the
// standard one, in all four pairings, over an in-memory connection.
func TestGRPCInterop(t *testing.T) {
	codecs := map[string]encoding.CodecV2{"vt": vtcodec.Codec{}, "standard": vtcodec.Standard()}
	for sname, sc := range codecs {
		for cname, cc := range codecs {
			t.Run("server="+sname+"/client="+cname, func(t *testing.T) {
				lis := bufconn.Listen(1 << 20)
				srv := grpc.NewServer(grpc.ForceServerCodecV2(sc))
				nsv1.RegisterNodeServiceServer(srv, echoNode{})
				done := make(chan struct{})
				go func() { defer close(done); _ = srv.Serve(lis) }()
				defer func() { srv.Stop(); <-done }()
				conn, err := grpc.NewClient("passthrough:///bufconn",
					grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
					grpc.WithTransportCredentials(insecure.NewCredentials()),
					grpc.WithDefaultCallOptions(grpc.ForceCodecV2(cc)))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				payload := []byte("héllo")
				resp, err := nsv1.NewNodeServiceClient(conn).Send(context.Background(), &nsv1.SendRequest{Item: &nsv1.Item{Service: "echo", Key: []byte("k"), Payload: payload}})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(resp.GetPayload(), payload) {
					t.Fatalf("payload %q, want %q", resp.GetPayload(), payload)
				}
			})
		}
	}
}

// TestOptions: the options build (and name the codec gRPC's default does).
func TestOptions(t *testing.T) {
	if vtcodec.ServerOption() == nil || vtcodec.DialOption() == nil {
		t.Fatal("nil option")
	}
	if vtcodec.Name != "proto" || (vtcodec.Codec{}).Name() != vtcodec.Standard().Name() {
		t.Fatalf("codec names %q and %q", vtcodec.Codec{}.Name(), vtcodec.Standard().Name())
	}
}

// TestInvalidUTF8 records the one difference from the standard codec: the
// generated code does not check that proto3 string fields are UTF-8, so an
// invalid service name or message is sent and accepted where the standard
// codec refuses both. Our own strings are ASCII identifiers, addresses and
// error texts; a node with the standard codec still refuses such a message.
func TestInvalidUTF8(t *testing.T) {
	item := &nsv1.Item{Service: "bad\xff", Key: []byte("k")}
	if _, err := vtcodec.Standard().Marshal(item); err == nil {
		t.Fatal("the standard codec marshalled an invalid UTF-8 string; the difference is gone: update the doc")
	}
	b, err := vtcodec.Codec{}.Marshal(item)
	if err != nil {
		t.Fatalf("vt codec: %v", err)
	}
	var got nsv1.Item
	if err := vtcodec.Standard().Unmarshal(b, &got); err == nil {
		t.Fatal("the standard codec accepted an invalid UTF-8 string")
	}
	if err := (vtcodec.Codec{}).Unmarshal(b, &got); err != nil || got.GetService() != item.GetService() {
		t.Fatalf("vt codec: %v, service %q", err, got.GetService())
	}
}
