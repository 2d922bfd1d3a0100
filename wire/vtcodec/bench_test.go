package vtcodec_test

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/wire/vtcodec"
)

// batch is what a client sends in one stream frame: 16 KV items of 16-byte
// keys and 64-byte values (the size nsctl bench uses), and what comes back:
// 16 results of 64-byte payloads (a get's reply).
func batch() (req *nsv1.StreamRequest, resp *nsv1.StreamResponse, fwd *nsv1.ForwardRequest, fwdResp *nsv1.ForwardResponse) {
	req = &nsv1.StreamRequest{Id: 12345, TableEpoch: 42}
	resp = &nsv1.StreamResponse{Id: 12345}
	for i := range 16 {
		req.Items = append(req.Items, &nsv1.Item{
			Service:          "kv",
			Key:              fmt.Appendf(nil, "bench:%010d", i*7919),
			Payload:          bytes.Repeat([]byte{byte(i)}, 64),
			RequestId:        uint64(1)<<62 + uint64(i),
			DeadlineUnixNano: 1_800_000_000_000_000_000 + int64(i),
		})
		resp.Results = append(resp.Results, &nsv1.Result{Payload: bytes.Repeat([]byte{byte(i)}, 64)})
	}
	fwd = &nsv1.ForwardRequest{Items: req.Items, TableEpoch: 42, From: "node-1"}
	fwdResp = &nsv1.ForwardResponse{Results: resp.Results}
	return req, resp, fwd, fwdResp
}

// processCPU is the process's user+system CPU time so far, in ns: on a
// shared machine a benchmark's CPU per operation (GC included) varies less
// than its wall time per operation.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkCodec compares the standard codec with the vt codec on one
// batch: marshal, unmarshal, and both (what one hop costs the two ends
// together), per message. Side by side in one binary, so one run's ratios
// hold on a noisy machine. cpu-ns/op is the process's CPU time per
// operation, the garbage collector's included.
func BenchmarkCodec(b *testing.B) {
	req, resp, fwd, fwdResp := batch()
	msgs := []struct {
		name string
		msg  proto.Message
	}{
		{"StreamRequest", req},
		{"StreamResponse", resp},
		{"ForwardRequest", fwd},
		{"ForwardResponse", fwdResp},
	}
	codecs := []struct {
		name  string
		codec encoding.CodecV2
	}{
		{"standard", vtcodec.Standard()},
		{"vt", vtcodec.Codec{}},
	}
	for _, m := range msgs {
		for _, op := range []string{"marshal", "unmarshal", "roundtrip"} {
			for _, c := range codecs {
				b.Run(m.name+"/"+op+"/"+c.name, func(b *testing.B) {
					wire, err := c.codec.Marshal(m.msg)
					if err != nil {
						b.Fatal(err)
					}
					newMsg := m.msg.ProtoReflect().Type().New().Interface
					b.SetBytes(int64(wire.Len()))
					b.ReportAllocs()
					cpu0 := processCPU(b)
					b.ResetTimer()
					for range b.N {
						if op != "unmarshal" {
							out, err := c.codec.Marshal(m.msg)
							if err != nil {
								b.Fatal(err)
							}
							if op == "marshal" {
								out.Free()
								continue
							}
							wire = out
						}
						if err := c.codec.Unmarshal(wire, newMsg()); err != nil {
							b.Fatal(err)
						}
						if op == "roundtrip" {
							wire.Free()
						}
					}
					b.StopTimer()
					b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
				})
			}
		}
	}
}
