package worker

import (
	"context"
	"sync"
	"testing"
)

// BenchmarkQueue compares the rings with a buffered channel of the same
// capacity, b.N messages in total (ns/op is per message), producers and
// consumers running concurrently: SPSC 1->1, MPSC 2->1, MPMC 2->2. The
// -batch64 variants move 64 messages per operation (for the channel, a
// 64-element array per send).
func BenchmarkQueue(b *testing.B) {
	const capacity = 1024
	kinds := []struct {
		name                 string
		producers, consumers int
		new                  func() Queue[int]
	}{
		{"SPSC", 1, 1, func() Queue[int] { q, _ := NewSPSC[int](capacity); return q }},
		{"MPSC", 2, 1, func() Queue[int] { q, _ := NewMPSC[int](capacity); return q }},
		{"MPMC", 2, 2, func() Queue[int] { q, _ := NewMPMC[int](capacity); return q }},
	}
	for _, k := range kinds {
		b.Run(k.name+"/ring", func(b *testing.B) { benchRing(b, k.producers, k.consumers, k.new(), 1) })
		b.Run(k.name+"/chan", func(b *testing.B) { benchChan(b, k.producers, k.consumers, capacity) })
	}
	for _, k := range kinds {
		b.Run(k.name+"-batch64/ring", func(b *testing.B) { benchRing(b, k.producers, k.consumers, k.new(), 64) })
		b.Run(k.name+"-batch64/chan", func(b *testing.B) { benchChanBatch(b, k.producers, k.consumers, capacity/64) })
	}
}

// split divides n messages among p producers.
func split(n, p, i int) int {
	if i == 0 {
		return n/p + n%p
	}
	return n / p
}

const sentinel = -1

func benchRing(b *testing.B, producers, consumers int, q Queue[int], batch int) {
	b.ReportAllocs()
	ctx := context.Background()
	var wg sync.WaitGroup
	var pwg sync.WaitGroup
	counts := make([]int, consumers)
	b.ResetTimer()
	for c := range consumers {
		wg.Go(func() {
			dst := make([]int, batch)
			got := 0
			for {
				n := 1
				if batch == 1 {
					v, _ := q.Pop(ctx)
					dst[0] = v
				} else {
					n, _ = q.PopBatchWait(ctx, dst)
				}
				stops := 0
				for _, v := range dst[:n] {
					if v == sentinel {
						stops++
					} else {
						got++
					}
				}
				if stops > 0 {
					for range stops - 1 { // hand extra sentinels on (MPMC)
						_ = q.Push(ctx, sentinel)
					}
					counts[c] = got
					return
				}
			}
		})
	}
	for p := range producers {
		pwg.Go(func() {
			n := split(b.N, producers, p)
			if batch == 1 {
				for i := range n {
					_ = q.Push(ctx, i)
				}
				return
			}
			src := make([]int, batch)
			for i := range src {
				src[i] = i
			}
			for n > 0 {
				m, _ := q.PushBatchWait(ctx, src[:min(batch, n)])
				n -= m
			}
		})
	}
	pwg.Wait()
	for range consumers {
		_ = q.Push(ctx, sentinel)
	}
	wg.Wait()
	b.StopTimer()
	total := 0
	for _, c := range counts {
		total += c
	}
	if total != b.N {
		b.Fatalf("consumed %d, want %d", total, b.N)
	}
}

func benchChan(b *testing.B, producers, consumers, capacity int) {
	b.ReportAllocs()
	ch := make(chan int, capacity)
	var wg, pwg sync.WaitGroup
	counts := make([]int, consumers)
	b.ResetTimer()
	for c := range consumers {
		wg.Go(func() {
			for range ch {
				counts[c]++
			}
		})
	}
	for p := range producers {
		pwg.Go(func() {
			for i := range split(b.N, producers, p) {
				ch <- i
			}
		})
	}
	pwg.Wait()
	close(ch)
	wg.Wait()
	b.StopTimer()
	total := 0
	for _, c := range counts {
		total += c
	}
	if total != b.N {
		b.Fatalf("consumed %d, want %d", total, b.N)
	}
}

type chanBatch struct {
	n int
	v [64]int
}

func benchChanBatch(b *testing.B, producers, consumers, capacity int) {
	b.ReportAllocs()
	ch := make(chan chanBatch, capacity)
	var wg, pwg sync.WaitGroup
	counts := make([]int, consumers)
	b.ResetTimer()
	for c := range consumers {
		wg.Go(func() {
			for bt := range ch {
				for _, v := range bt.v[:bt.n] {
					_ = v
					counts[c]++
				}
			}
		})
	}
	for p := range producers {
		pwg.Go(func() {
			n := split(b.N, producers, p)
			var bt chanBatch
			for i := range bt.v {
				bt.v[i] = i
			}
			for n > 0 {
				bt.n = min(64, n)
				ch <- bt
				n -= bt.n
			}
		})
	}
	pwg.Wait()
	close(ch)
	wg.Wait()
	b.StopTimer()
	total := 0
	for _, c := range counts {
		total += c
	}
	if total != b.N {
		b.Fatalf("consumed %d, want %d", total, b.N)
	}
}

// BenchmarkWakeup measures a round trip between two goroutines that are
// parked whenever they wait: ns/op is two wake-ups of a parked goroutine
// plus two ring operations. "idle" uses the normal idle strategy (which
// may catch the message while spinning), "parked" parks at once, "chan"
// is the same ping-pong over channels, "pool-ask" is Pool.AskTo to an
// idle worker, "pool-ask-locked" the same with Config.LockOSThread.
func BenchmarkWakeup(b *testing.B) {
	b.Run("idle", func(b *testing.B) { benchPingPong(b, false) })
	b.Run("parked", func(b *testing.B) { benchPingPong(b, true) })
	b.Run("chan", func(b *testing.B) {
		b.ReportAllocs()
		ping, pong := make(chan int, 1), make(chan int, 1)
		go func() {
			for v := range ping {
				pong <- v
			}
			close(pong)
		}()
		for i := 0; b.Loop(); i++ {
			ping <- i
			<-pong
		}
		close(ping)
		<-pong
	})
	for _, locked := range []bool{false, true} {
		name := "pool-ask"
		if locked {
			name += "-locked"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			p, err := New(Config{Workers: 1, LockOSThread: locked}, HandlerFuncs[int, int, int]{
				HandleFunc: func(s *int, m int) (int, error) { return m, nil },
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Start(); err != nil {
				b.Fatal(err)
			}
			defer p.Stop()
			ctx := context.Background()
			for i := 0; b.Loop(); i++ {
				if _, err := p.AskTo(ctx, 0, i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchPingPong(b *testing.B, forcePark bool) {
	b.ReportAllocs()
	ping, _ := NewSPSC[int](2)
	pong, _ := NewSPSC[int](2)
	pop := func(q *SPSC[int]) int {
		for {
			if v, ok := q.TryPop(); ok {
				return v
			}
			if forcePark {
				q.notEmpty.park(q.nonEmpty, nil, nil)
			} else {
				q.notEmpty.wait(q.nonEmpty, nil, nil)
			}
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			v := pop(ping)
			pong.TryPush(v)
			if v < 0 {
				return
			}
		}
	}()
	for i := 0; b.Loop(); i++ {
		ping.TryPush(i)
		pop(pong)
	}
	ping.TryPush(-1)
	<-done
}
