package client

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/nothingshared/ns/client/internal/fakecluster"
)

// BenchmarkClientPut measures Put against a 2-node fake cluster over
// loopback TCP (and bufconn): one goroutine (every frame carries one item:
// the unbatched baseline) against 64 concurrent goroutines (natural
// batching). ops/s is reported as a metric; items/frame shows the batching.
func BenchmarkClientPut(b *testing.B) {
	for _, nw := range networks {
		for _, par := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", nw.name, par), func(b *testing.B) {
				fc := newCluster(b, nw.net, 2)
				cfg := testConfig(b, fc)
				cfg.Logger = nil
				c := newClient(b, cfg)
				value := make([]byte, 32)
				var seq atomic.Int64
				b.ReportAllocs()
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
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
				var frames, items uint64
				for _, n := range c.Stats().Nodes {
					frames += n.Frames
					items += n.Items
				}
				if frames > 0 {
					b.ReportMetric(float64(items)/float64(frames), "items/frame")
				}
			})
		}
	}
}

// BenchmarkClientSendBatch measures SendBatch of 256 echo messages: the
// library's batch API, which fills frames without waiting on callers.
func BenchmarkClientSendBatch(b *testing.B) {
	fc := newCluster(b, fakecluster.TCP, 2)
	cfg := testConfig(b, fc)
	cfg.Logger = nil
	c := newClient(b, cfg)
	msgs := make([]Message, 256)
	for i := range msgs {
		msgs[i] = Message{Service: fakecluster.EchoService, Key: []byte(strconv.Itoa(i)), Payload: make([]byte, 32)}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, r := range c.SendBatch(ctx, msgs) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
}
