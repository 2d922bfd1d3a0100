package client

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"

	"github.com/nothingshared/ns/client/internal/fakecluster"
	"github.com/nothingshared/ns/wire/vtcodec"
)

// codecs are the gRPC codecs the benchmarks compare, client and fake nodes
// alike: the standard one and the vtprotobuf one the client uses.
var codecs = []struct {
	name  string
	codec encoding.CodecV2
}{
	{"standard", vtcodec.Standard()},
	{"vt", vtcodec.Codec{}},
}

// processCPU is the process's user+system CPU time so far, in ns: client
// and fake nodes together, the garbage collector included.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// newCodecCluster is newCluster whose nodes and client config use codec.
func newCodecCluster(b *testing.B, network fakecluster.Network, n int, codec encoding.CodecV2) (*fakecluster.Cluster, Config) {
	b.Helper()
	fc, err := fakecluster.NewWithCodec(network, n, codec)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(fc.Close)
	cfg := testConfig(b, fc)
	cfg.Logger = nil
	cfg.DialOptions = append(cfg.DialOptions, grpc.WithDefaultCallOptions(grpc.ForceCodecV2(codec)))
	return fc, cfg
}

// BenchmarkClientPut measures Put against a 2-node fake cluster over
// loopback TCP (and bufconn): one goroutine (every frame carries one item:
// the unbatched baseline) against 64 concurrent goroutines (natural
// batching), with each gRPC codec. ops/s is reported as a metric;
// items/frame shows the batching.
func BenchmarkClientPut(b *testing.B) {
	for _, nw := range networks {
		for _, par := range []int{1, 64} {
			for _, cd := range codecs {
				b.Run(fmt.Sprintf("%s/goroutines=%d/codec=%s", nw.name, par, cd.name), func(b *testing.B) {
					benchPut(b, nw.net, par, cd.codec)
				})
			}
		}
	}
}

func benchPut(b *testing.B, network fakecluster.Network, par int, codec encoding.CodecV2) {
	_, cfg := newCodecCluster(b, network, 2, codec)
	c := newClient(b, cfg)
	value := make([]byte, 32)
	var seq atomic.Int64
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	if par == 1 {
		ctx := context.Background()
		for i := range b.N {
			if err := c.Put(ctx, []byte(strconv.Itoa(i&4095)), value); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism((par + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				i := seq.Add(1)
				if err := c.Put(ctx, []byte(strconv.Itoa(int(i&4095))), value); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	var frames, items uint64
	for _, n := range c.Stats().Nodes {
		frames += n.Frames
		items += n.Items
	}
	if frames > 0 {
		b.ReportMetric(float64(items)/float64(frames), "items/frame")
	}
}

// BenchmarkClientSendBatch measures SendBatch of 256 echo messages: the
// library's batch API, which fills frames without waiting on callers, with
// each gRPC codec.
func BenchmarkClientSendBatch(b *testing.B) {
	for _, cd := range codecs {
		b.Run("codec="+cd.name, func(b *testing.B) { benchSendBatch(b, cd.codec) })
	}
}

func benchSendBatch(b *testing.B, codec encoding.CodecV2) {
	_, cfg := newCodecCluster(b, fakecluster.TCP, 2, codec)
	c := newClient(b, cfg)
	msgs := make([]Message, 256)
	for i := range msgs {
		msgs[i] = Message{Service: fakecluster.EchoService, Key: []byte(strconv.Itoa(i)), Payload: make([]byte, 32)}
	}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	for range b.N {
		for _, r := range c.SendBatch(ctx, msgs) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N*len(msgs)), "cpu-ns/msg")
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
}
