package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// ringKinds builds each ring kind for the table tests.
var ringKinds = []struct {
	name        string
	new         func(capacity int) (Queue[int], error)
	multiProd   bool
	multiConsum bool
}{
	{"SPSC", func(c int) (Queue[int], error) { return NewSPSC[int](c) }, false, false},
	{"MPSC", func(c int) (Queue[int], error) { return NewMPSC[int](c) }, true, false},
	{"MPMC", func(c int) (Queue[int], error) { return NewMPMC[int](c) }, true, true},
}

// fataler is the part of testing.TB that *rapid.T also has.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

func mustRing(t fataler, kind int, capacity int) Queue[int] {
	t.Helper()
	q, err := ringKinds[kind].new(capacity)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestRingCapacityValidation(t *testing.T) {
	for _, k := range ringKinds {
		t.Run(k.name, func(t *testing.T) {
			for _, c := range []int{-1, 0, 1, 3, 6, 1000} {
				if _, err := k.new(c); !errors.Is(err, ErrInvalidConfig) {
					t.Errorf("capacity %d: err = %v, want ErrInvalidConfig", c, err)
				}
			}
			for _, c := range []int{2, 4, 1024} {
				q, err := k.new(c)
				if err != nil || q.Cap() != c {
					t.Errorf("capacity %d: cap %d, err %v", c, q.Cap(), err)
				}
			}
		})
	}
}

func TestRingFIFOAndBounds(t *testing.T) {
	for i, k := range ringKinds {
		t.Run(k.name, func(t *testing.T) {
			q := mustRing(t, i, 4)
			if _, ok := q.TryPop(); ok {
				t.Fatal("pop from empty ring succeeded")
			}
			for v := range 4 {
				if !q.TryPush(v) {
					t.Fatalf("push %d into ring of 4 failed", v)
				}
			}
			if q.TryPush(99) {
				t.Fatal("push into full ring succeeded")
			}
			if q.Len() != 4 {
				t.Fatalf("Len = %d, want 4", q.Len())
			}
			for want := range 4 {
				if v, ok := q.TryPop(); !ok || v != want {
					t.Fatalf("pop = %d,%v want %d", v, ok, want)
				}
			}
			// Batches wrap around the end of the buffer.
			if n := q.PushBatch([]int{10, 11, 12}); n != 3 {
				t.Fatalf("PushBatch = %d, want 3", n)
			}
			if n := q.PushBatch([]int{13, 14, 15}); n != 1 {
				t.Fatalf("PushBatch into 1 free slot = %d, want 1", n)
			}
			dst := make([]int, 8)
			if n := q.PopBatch(dst); n != 4 || fmt.Sprint(dst[:n]) != "[10 11 12 13]" {
				t.Fatalf("PopBatch = %v", dst[:n])
			}
			if n := q.PopBatch(dst); n != 0 {
				t.Fatalf("PopBatch on empty = %d", n)
			}
		})
	}
}

func TestRingBlocking(t *testing.T) {
	for i, k := range ringKinds {
		t.Run(k.name, func(t *testing.T) {
			q := mustRing(t, i, 2)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if _, err := q.Pop(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Pop on empty = %v, want deadline", err)
			}
			_ = q.Push(context.Background(), 1)
			_ = q.Push(context.Background(), 2)
			ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel2()
			err := q.Push(ctx2, 3)
			if !errors.Is(err, ErrPoolFull) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Push on full = %v, want ErrPoolFull and deadline", err)
			}
			// A parked consumer is woken by a push.
			got := make(chan int)
			q.PopBatch(make([]int, 2))
			go func() {
				v, _ := q.Pop(context.Background())
				got <- v
			}()
			waitParked(t, notEmptyOf(q))
			_ = q.Push(context.Background(), 7)
			if v := <-got; v != 7 {
				t.Fatalf("woken Pop = %d, want 7", v)
			}
			// A parked producer is woken by a pop.
			_ = q.Push(context.Background(), 1)
			_ = q.Push(context.Background(), 2)
			pushed := make(chan error)
			go func() { pushed <- q.Push(context.Background(), 3) }()
			waitParked(t, notFullOf(q))
			if v, _ := q.TryPop(); v != 1 {
				t.Fatalf("pop = %d", v)
			}
			if err := <-pushed; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func notEmptyOf(q Queue[int]) *waiter {
	switch q := q.(type) {
	case *SPSC[int]:
		return q.notEmpty
	case *MPSC[int]:
		return q.notEmpty
	case *MPMC[int]:
		return q.notEmpty
	}
	panic("unknown ring")
}

func notFullOf(q Queue[int]) *waiter {
	switch q := q.(type) {
	case *SPSC[int]:
		return q.notFull
	case *MPSC[int]:
		return q.notFull
	case *MPMC[int]:
		return q.notFull
	}
	panic("unknown ring")
}

// waitParked polls until a goroutine is parked on w.
func waitParked(t testing.TB, w *waiter) {
	t.Helper()
	eventually(t, 5*time.Second, func() bool { return w.parked.Load() > 0 })
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", within)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRingModel checks every ring against a slice under arbitrary
// sequences of single and batch operations and arbitrary capacities.
func TestRingModel(t *testing.T) {
	for i, k := range ringKinds {
		t.Run(k.name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				capacity := 1 << rapid.IntRange(1, 6).Draw(rt, "log2cap")
				q := mustRing(rt, i, capacity)
				var model []int
				next := 0
				steps := rapid.IntRange(1, 300).Draw(rt, "steps")
				for range steps {
					switch rapid.IntRange(0, 3).Draw(rt, "op") {
					case 0:
						ok := q.TryPush(next)
						if ok != (len(model) < capacity) {
							rt.Fatalf("TryPush ok=%v with %d/%d queued", ok, len(model), capacity)
						}
						if ok {
							model = append(model, next)
							next++
						}
					case 1:
						v, ok := q.TryPop()
						if ok != (len(model) > 0) {
							rt.Fatalf("TryPop ok=%v with %d queued", ok, len(model))
						}
						if ok {
							if v != model[0] {
								rt.Fatalf("TryPop = %d, want %d", v, model[0])
							}
							model = model[1:]
						}
					case 2:
						src := make([]int, rapid.IntRange(0, 2*capacity).Draw(rt, "pushN"))
						for j := range src {
							src[j] = next + j
						}
						n := q.PushBatch(src)
						if want := min(len(src), capacity-len(model)); n != want {
							rt.Fatalf("PushBatch(%d) = %d, want %d", len(src), n, want)
						}
						model = append(model, src[:n]...)
						next += n
					case 3:
						dst := make([]int, rapid.IntRange(0, 2*capacity).Draw(rt, "popN"))
						n := q.PopBatch(dst)
						if want := min(len(dst), len(model)); n != want {
							rt.Fatalf("PopBatch(%d) = %d, want %d", len(dst), n, want)
						}
						for j := range n {
							if dst[j] != model[j] {
								rt.Fatalf("PopBatch[%d] = %d, want %d", j, dst[j], model[j])
							}
						}
						model = model[n:]
					}
					if q.Len() != len(model) {
						rt.Fatalf("Len = %d, want %d", q.Len(), len(model))
					}
				}
			})
		})
	}
}

// TestRingConcurrentProperty runs real producers and consumers with drawn
// capacities, counts and batch sizes, and checks that every element
// arrives exactly once and each producer's elements arrive in order (per
// consumer, for MPMC).
func TestRingConcurrentProperty(t *testing.T) {
	for i, k := range ringKinds {
		t.Run(k.name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				capacity := 1 << rapid.IntRange(1, 7).Draw(rt, "log2cap")
				producers, consumers := 1, 1
				if k.multiProd {
					producers = rapid.IntRange(1, 4).Draw(rt, "producers")
				}
				if k.multiConsum {
					consumers = rapid.IntRange(1, 3).Draw(rt, "consumers")
				}
				maxPer := 2000
				if raceEnabled {
					maxPer = 300
				}
				perProducer := rapid.IntRange(0, maxPer).Draw(rt, "perProducer")
				pushBatch := rapid.IntRange(1, 2*capacity).Draw(rt, "pushBatch")
				popBatch := rapid.IntRange(1, 2*capacity).Draw(rt, "popBatch")
				blocking := rapid.Bool().Draw(rt, "blocking")
				q := mustRing(rt, i, capacity)
				total := producers * perProducer

				var wg sync.WaitGroup
				for p := range producers {
					wg.Go(func() {
						ctx := context.Background()
						buf := make([]int, 0, pushBatch)
						for s := 0; s < perProducer; {
							if blocking || pushBatch == 1 {
								if err := q.Push(ctx, p<<32|s); err != nil {
									panic(err)
								}
								s++
								continue
							}
							buf = buf[:0]
							for j := s; j < min(s+pushBatch, perProducer); j++ {
								buf = append(buf, p<<32|j)
							}
							n := q.PushBatch(buf)
							if n == 0 {
								_ = notFullOf(q).wait(q.(interface{ hasRoom() bool }).hasRoom, nil, nil)
							}
							s += n
						}
					})
				}
				var mu sync.Mutex
				var remaining = total
				got := make([][]int, consumers)
				for c := range consumers {
					wg.Go(func() {
						dst := make([]int, popBatch)
						for {
							mu.Lock()
							if remaining == 0 {
								mu.Unlock()
								return
							}
							mu.Unlock()
							var n int
							if blocking {
								ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
								v, err := q.Pop(ctx)
								cancel()
								if err == nil {
									dst[0], n = v, 1
								}
							} else {
								n = q.PopBatch(dst)
								if n == 0 {
									time.Sleep(10 * time.Microsecond)
								}
							}
							got[c] = append(got[c], dst[:n]...)
							mu.Lock()
							remaining -= n
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				seen := make(map[int]bool, total)
				for c := range got {
					last := make([]int, producers)
					for p := range last {
						last[p] = -1
					}
					for _, v := range got[c] {
						p, s := v>>32, v&(1<<32-1)
						if seen[v] {
							rt.Fatalf("duplicate %d/%d", p, s)
						}
						seen[v] = true
						if s <= last[p] {
							rt.Fatalf("consumer %d: producer %d reordered: %d after %d", c, p, s, last[p])
						}
						last[p] = s
					}
				}
				if len(seen) != total {
					rt.Fatalf("got %d distinct elements, want %d", len(seen), total)
				}
				if q.Len() != 0 {
					rt.Fatalf("Len = %d after draining", q.Len())
				}
			})
		})
	}
}
