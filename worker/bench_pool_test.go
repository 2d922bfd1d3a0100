package worker

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkPool runs one keyed workload — increment a counter per key,
// 4096 keys, 2 producers, 2 workers — through each way of sharing
// state; ns/op is per message and includes draining everything:
//
//   - send: Pool.Send per message; the worker drains its MPSC ring in
//     batches of up to 64.
//   - sendbatch: producers route by key into per-worker buffers of 64 and
//     hand each over with Pool.SendBatchTo (one CAS per 64 messages).
//   - ask: Pool.Ask per message (a request/reply round trip each).
//   - chan: a buffered channel per worker goroutine, one message per send.
//   - chanbatch: the same channels carrying 64 messages per send.
//   - mutex: one map shared by all producers behind a sync.Mutex.
//   - nohop: each producer owns a partition of the keys and its own map:
//     no hop, no sharing; the ceiling.
func BenchmarkPool(b *testing.B) {
	const producers, workers, nkeys = 2, 2, 4096
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d", i)
	}
	owner := make([]int, nkeys) // Hash partition of every key
	for i, k := range keys {
		owner[i] = Hash{}.Partition(k, workers)
	}
	counter := HandlerFuncs[map[string]int, string, int]{
		InitFunc: func(int) (map[string]int, error) { return make(map[string]int, nkeys), nil },
		HandleFunc: func(s *map[string]int, key string) (int, error) {
			(*s)[key]++
			return 0, nil
		},
	}
	newPool := func(b *testing.B) *Pool[map[string]int, string, int] {
		p, err := New(Config{Workers: workers}, counter)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Start(); err != nil {
			b.Fatal(err)
		}
		return p
	}
	checkPool := func(b *testing.B, p *Pool[map[string]int, string, int]) {
		var n uint64
		for _, s := range p.Stats() {
			n += s.Processed
		}
		if n != uint64(b.N) {
			b.Fatalf("processed %d, want %d", n, b.N)
		}
	}
	// run starts the producers, each calling fn(producer, i) for its share.
	run := func(b *testing.B, fn func(g, i int)) {
		var wg sync.WaitGroup
		for g := range producers {
			wg.Go(func() {
				for i := range split(b.N, producers, g) {
					fn(g, i)
				}
			})
		}
		wg.Wait()
	}
	keyOf := func(g, i int) int { return (i*31 + g*17) & (nkeys - 1) }

	b.Run("send", func(b *testing.B) {
		b.ReportAllocs()
		p := newPool(b)
		b.ResetTimer()
		run(b, func(g, i int) { _ = p.Send(keys[keyOf(g, i)], keys[keyOf(g, i)]) })
		_ = p.Close()
		b.StopTimer()
		checkPool(b, p)
	})
	b.Run("sendbatch", func(b *testing.B) {
		b.ReportAllocs()
		p := newPool(b)
		b.ResetTimer()
		var wg sync.WaitGroup
		for g := range producers {
			wg.Go(func() {
				ctx := context.Background()
				bufs := make([][]string, workers)
				for w := range bufs {
					bufs[w] = make([]string, 0, 64)
				}
				for i := range split(b.N, producers, g) {
					k := keyOf(g, i)
					w := owner[k]
					bufs[w] = append(bufs[w], keys[k])
					if len(bufs[w]) == 64 {
						_, _ = p.SendBatchTo(ctx, w, bufs[w])
						bufs[w] = bufs[w][:0]
					}
				}
				for w, buf := range bufs {
					_, _ = p.SendBatchTo(ctx, w, buf)
				}
			})
		}
		wg.Wait()
		_ = p.Close()
		b.StopTimer()
		checkPool(b, p)
	})
	b.Run("ask", func(b *testing.B) {
		b.ReportAllocs()
		p := newPool(b)
		ctx := context.Background()
		b.ResetTimer()
		run(b, func(g, i int) { _, _ = p.Ask(ctx, keys[keyOf(g, i)], keys[keyOf(g, i)]) })
		_ = p.Close()
		b.StopTimer()
		checkPool(b, p)
	})
	b.Run("chan", func(b *testing.B) {
		b.ReportAllocs()
		chans := make([]chan string, workers)
		var wg sync.WaitGroup
		counts := make([]int, workers)
		for w := range chans {
			chans[w] = make(chan string, DefaultQueueSize)
			wg.Go(func() {
				m := make(map[string]int, nkeys)
				for k := range chans[w] {
					m[k]++
					counts[w]++
				}
			})
		}
		b.ResetTimer()
		run(b, func(g, i int) {
			k := keyOf(g, i)
			chans[Hash{}.Partition(keys[k], workers)] <- keys[k]
		})
		for _, c := range chans {
			close(c)
		}
		wg.Wait()
		b.StopTimer()
		if counts[0]+counts[1] != b.N {
			b.Fatalf("counted %d", counts[0]+counts[1])
		}
	})
	b.Run("chanbatch", func(b *testing.B) {
		b.ReportAllocs()
		type batch struct {
			n int
			k [64]string
		}
		chans := make([]chan batch, workers)
		var wg sync.WaitGroup
		counts := make([]int, workers)
		for w := range chans {
			chans[w] = make(chan batch, DefaultQueueSize/64)
			wg.Go(func() {
				m := make(map[string]int, nkeys)
				for bt := range chans[w] {
					for _, k := range bt.k[:bt.n] {
						m[k]++
					}
					counts[w] += bt.n
				}
			})
		}
		b.ResetTimer()
		var pwg sync.WaitGroup
		for g := range producers {
			pwg.Go(func() {
				bufs := make([]batch, workers)
				for i := range split(b.N, producers, g) {
					k := keyOf(g, i)
					w := Hash{}.Partition(keys[k], workers)
					bufs[w].k[bufs[w].n] = keys[k]
					bufs[w].n++
					if bufs[w].n == 64 {
						chans[w] <- bufs[w]
						bufs[w].n = 0
					}
				}
				for w := range bufs {
					chans[w] <- bufs[w]
				}
			})
		}
		pwg.Wait()
		for _, c := range chans {
			close(c)
		}
		wg.Wait()
		b.StopTimer()
		if counts[0]+counts[1] != b.N {
			b.Fatalf("counted %d", counts[0]+counts[1])
		}
	})
	b.Run("mutex", func(b *testing.B) {
		b.ReportAllocs()
		var mu sync.Mutex // guards m
		m := make(map[string]int, nkeys)
		b.ResetTimer()
		run(b, func(g, i int) {
			k := keys[keyOf(g, i)]
			Hash{}.Partition(k, workers) // same hashing cost as the others
			mu.Lock()
			m[k]++
			mu.Unlock()
		})
	})
	b.Run("nohop", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		var wg sync.WaitGroup
		for g := range producers {
			wg.Go(func() {
				m := make(map[string]int, nkeys)
				for i := range split(b.N, producers, g) {
					k := keys[keyOf(g, i)]
					Hash{}.Partition(k, workers)
					m[k]++
				}
			})
		}
		wg.Wait()
	})
}
