package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The Go collector's target. A node's heap is mostly its partitions' slabs:
// a few large pointer-free arrays that a collection marks without scanning,
// so a collection costs little however much data the node holds, and Go's
// default target (GOGC 100: the heap grows by its live data before the next
// collection) lets the process hold about twice its data. At 1M keys of 64
// bytes that was 272 bytes of RSS per key against Redis's 160, and 169 at
// GOGC 25 (make bench-memory, docs/benchmarks.md). But a flat 25 is costly
// for a small heap, which it makes collect every megabyte or so:
// BenchmarkRESPNode (a few keys) took 11-47% more CPU per command. So the
// target is --gc-percent of the live heap, raised to at least
// minGCHeadroom of growth, and never above Go's default (or --gc-percent,
// if that is higher): a small node collects as it would by default, a large
// one holds at most about 1.25 times its data.
const (
	defaultGCPercent = 25
	minGCHeadroom    = 32 << 20
)

// gcPercentFor returns the GOGC value for a live heap of live bytes: pct,
// raised so that the heap may grow by at least minGCHeadroom, at most
// max(pct, 100).
func gcPercentFor(live uint64, pct int) int {
	top := max(pct, 100)
	if live == 0 {
		return top
	}
	need := int((uint64(minGCHeadroom)*100 + live - 1) / live)
	return min(max(pct, need), top)
}

// tuneGC sets the collector's target from the live heap (gcPercentFor)
// now and every interval until ctx ends.
func tuneGC(ctx context.Context, pct int, interval time.Duration) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	cur := -2
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		metrics.Read(sample)
		var live uint64
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = sample[0].Value.Uint64()
		}
		if p := gcPercentFor(live, pct); p != cur {
			debug.SetGCPercent(p)
			cur = p
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
