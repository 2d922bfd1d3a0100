package kv

import (
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestFootprint measures memory per key and GC pauses of a store of many
// keys with 64-byte values. It is a measurement, not a check, and runs only
// when KV_FOOTPRINT_KEYS is set (docs/benchmarks.md, "kv storage"):
//
//	KV_FOOTPRINT_KEYS=1000000 go test -run TestFootprint -count=1 -v ./kv/
//
// It prints HeapInuse per key after loading, then runs a mixed workload
// (overwrites, incrs that create a second key per key, gets; plus
// KV_FOOTPRINT_GARBAGE bytes of unrelated garbage per op, 64 by default, so
// that the GC runs as it would in a node) and prints the GC pauses
// (/gc/pauses:seconds), the GC's CPU time and the slowest single Apply seen
// during it.
func TestFootprint(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("KV_FOOTPRINT_KEYS"))
	if n <= 0 {
		t.Skip("set KV_FOOTPRINT_KEYS to run")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	s := NewStore()
	key := make([]byte, 0, 32)
	val := make([]byte, 64)
	for i := range val {
		val[i] = 'v'
	}
	for i := range n {
		key = strconv.AppendInt(append(key[:0], "key-"...), int64(i), 10)
		if _, err := s.Apply(t0, &Request{Op: OpPut, Key: key, Value: val}); err != nil {
			t.Fatal(err)
		}
	}
	load := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	inuse := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("keys=%d load=%v HeapInuse=%d MiB bytes/key=%.1f Store.Bytes/key=%.1f HeapObjects=%d",
		n, load.Round(time.Millisecond), inuse>>20, float64(inuse)/float64(n), float64(s.Bytes())/float64(n), after.HeapObjects)

	ops := 4 * n
	if ops > 20_000_000 {
		ops = 20_000_000
	}
	samples := []metrics.Sample{{Name: "/gc/pauses:seconds"}, {Name: "/gc/cycles/total:gc-cycles"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(samples)
	h0 := samples[0].Value.Float64Histogram()
	counts0 := slices.Clone(h0.Counts)
	cycles0 := samples[1].Value.Uint64()
	gccpu0 := samples[2].Value.Float64()

	garbage := 64
	if g, err := strconv.Atoi(os.Getenv("KV_FOOTPRINT_GARBAGE")); err == nil {
		garbage = g
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var sink [][]byte
	var worst time.Duration
	start = time.Now()
	for i := range ops {
		key = strconv.AppendInt(append(key[:0], "key-"...), int64(rng.IntN(n)), 10)
		var r Request
		switch i % 4 {
		case 0, 1:
			r = Request{Op: OpPut, Key: key, Value: val}
		case 2:
			r = Request{Op: OpGet, Key: key}
		case 3:
			key = append(key, 'c')
			r = Request{Op: OpIncr, Key: key, Delta: 1}
		}
		opStart := time.Now()
		if _, err := s.Apply(t0, &r); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(opStart); d > worst {
			worst = d
		}
		if garbage > 0 && i%16 == 0 {
			sink = append(sink, make([]byte, 16*garbage))
			if len(sink) == 4096 {
				sink = sink[:0]
			}
		}
	}
	run := time.Since(start)
	metrics.Read(samples)
	h := samples[0].Value.Float64Histogram()
	var total uint64
	counts := make([]uint64, len(h.Counts))
	for i := range counts {
		counts[i] = h.Counts[i] - counts0[i]
		total += counts[i]
	}
	quantile := func(q float64) float64 {
		want := uint64(q * float64(total))
		var seen uint64
		for i, c := range counts {
			seen += c
			if seen > want {
				return h.Buckets[i+1]
			}
		}
		return 0
	}
	maxPause := 0.0
	for i, c := range counts {
		if c > 0 {
			maxPause = h.Buckets[i+1]
		}
	}
	t.Logf("ops=%d run=%v ns/op=%.0f gc-cycles=%d gc-cpu=%.2fs pauses=%d p50<=%.3gms p99<=%.3gms max<=%.3gms slowest-apply=%v",
		ops, run.Round(time.Millisecond), float64(run.Nanoseconds())/float64(ops), samples[1].Value.Uint64()-cycles0,
		samples[2].Value.Float64()-gccpu0, total, quantile(0.5)*1e3, quantile(0.99)*1e3, maxPause*1e3, worst)
	runtime.KeepAlive(s)
	runtime.KeepAlive(sink)
}
