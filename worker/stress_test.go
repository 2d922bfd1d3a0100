package worker

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stressMessages is the stress test's total; NS_STRESS=1 raises it.
func stressMessages() int {
	switch {
	case os.Getenv("NS_STRESS") != "":
		return 20_000_000
	case raceEnabled:
		return 500_000
	case testing.Short():
		return 200_000
	}
	return 2_000_000
}

// TestStress pushes millions of keyed messages from several producers,
// mixed with Asks, Execs and a panicking key, and reconciles every count
// exactly: per key, per worker and in Stats.
func TestStress(t *testing.T) {
	total := stressMessages()
	const producers, keys = 4, 256
	var panicked atomic.Int64
	h := HandlerFuncs[map[string]int, int, int]{
		InitFunc: func(int) (map[string]int, error) { return map[string]int{}, nil },
		HandleFunc: func(s *map[string]int, m int) (int, error) {
			if m < 0 {
				panicked.Add(1)
				panic("negative")
			}
			(*s)[fmt.Sprint(m%keys)]++
			return 0, nil
		},
	}
	p, err := New(Config{Workers: 2, QueueSize: 256, RestartBackoff: time.Microsecond, MaxRestartBackoff: time.Microsecond, MaxConsecutivePanics: 1 << 20}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	keyNames := make([]string, keys)
	for k := range keyNames {
		keyNames[k] = fmt.Sprint(k)
	}
	start := time.Now()
	per := total / producers
	var wg sync.WaitGroup
	var panicsSent atomic.Int64
	for g := range producers {
		wg.Go(func() {
			ctx := context.Background()
			for i := range per {
				k := (g*per + i) % keys
				var err error
				switch {
				case i%50_000 == 49_999:
					_, err = p.Ask(ctx, keyNames[k], -1)
					panicsSent.Add(1)
					if err == nil {
						err = fmt.Errorf("panicking Ask returned nil")
					} else {
						err = nil
					}
				case i%10_000 == 0:
					_, err = p.Ask(ctx, keyNames[k], k)
				case i%25_000 == 0:
					err = p.Exec(ctx, p.WorkerOf(keyNames[k]), func(*map[string]int) {})
					if err == nil {
						err = p.Send(keyNames[k], k)
					}
				default:
					err = p.Send(keyNames[k], k)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	sent := int64(producers*per) - panicsSent.Load()
	var processed, enqueued, panics uint64
	for _, s := range p.Stats() {
		processed += s.Processed
		enqueued += s.Enqueued
		panics += s.Panics
		if s.Dropped != 0 || s.CircuitOpen {
			t.Errorf("worker %d: %+v", s.Worker, s)
		}
	}
	t.Logf("%d messages in %v (%.0f ns/msg)", total, elapsed, float64(elapsed)/float64(total))
	if int64(processed) != sent || enqueued != uint64(producers*per) || int64(panics) != panicsSent.Load() || panicked.Load() != panicsSent.Load() {
		t.Fatalf("processed %d (want %d), enqueued %d (want %d), panics %d (want %d)",
			processed, sent, enqueued, producers*per, panics, panicsSent.Load())
	}
}

// TestStressCounts checks per-key counts exactly: every worker's state is
// read back through Exec after all sends were handled.
func TestStressCounts(t *testing.T) {
	total := stressMessages() / 4
	const producers, keys = 3, 100
	h := HandlerFuncs[map[int]int, int, struct{}]{
		InitFunc: func(int) (map[int]int, error) { return map[int]int{}, nil },
		HandleFunc: func(s *map[int]int, k int) (struct{}, error) {
			(*s)[k]++
			return struct{}{}, nil
		},
	}
	p, err := New(Config{Workers: 3, QueueSize: 128, Partitioner: NewConsistent(0)}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	names := make([]string, keys)
	for k := range names {
		names[k] = fmt.Sprintf("key/%d", k)
	}
	per := total / producers
	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			for i := range per {
				k := (i*7 + g) % keys
				if err := p.Send(names[k], k); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := map[int]int{}
	for w := range p.Size() {
		// A no-op Ask drains the ring (FIFO) before the Exec reads state.
		if _, err := p.AskTo(context.Background(), w, -1); err != nil {
			t.Fatal(err)
		}
		err := p.Exec(context.Background(), w, func(s *map[int]int) {
			for k, n := range *s {
				if k >= 0 {
					got[k] += n
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	want := map[int]int{}
	for g := range producers {
		for i := range per {
			want[(i*7+g)%keys]++
		}
	}
	for k := range keys {
		if got[k] != want[k] {
			t.Fatalf("key %d: %d, want %d", k, got[k], want[k])
		}
	}
}
