package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		pct  int
		want int
	}{
		{0, 25, 100},            // nothing measured yet: Go's default
		{1 * mib, 25, 100},      // small heap: Go's default, not 3200%
		{32 * mib, 25, 100},     // 32 MiB of growth is 100%
		{64 * mib, 25, 50},      // ... 50%
		{128 * mib, 25, 25},     // from here on, --gc-percent
		{1 << 30, 25, 25},       // a large heap
		{100 * mib, 25, 32},     // rounded up: at least 32 MiB
		{1 * mib, 200, 200},     // a target above Go's default stays
		{1 << 30, 200, 200},     //
		{1 << 30, 1, 4},         // 32 MiB of 1 GiB, rounded up
		{16 << 30, 1, 1},        // --gc-percent 1 on a 16 GiB heap
		{3 * mib / 2, 100, 100}, // the default asked for: the default
	} {
		if got := gcPercentFor(c.live, c.pct); got != c.want {
			t.Errorf("gcPercentFor(%d MiB, %d) = %d, want %d", c.live/mib, c.pct, got, c.want)
		}
	}
}

// TestTuneGC: tuneGC sets the process's collector target (read back from
// runtime/metrics) to gcPercentFor of the live heap, at once.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tuneGC(ctx, 200, time.Hour) }()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		metrics.Read(s)
		if s[0].Value.Uint64() == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC is %d after tuneGC(200), want 200", s[0].Value.Uint64())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}
