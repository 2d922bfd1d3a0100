package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Benchmarks run on the real disk (b.TempDir, under /tmp). Commands and
// figures: docs/durability.md.

const benchPayload = 128

// BenchmarkAppendSync appends records of 128 bytes and syncs every batch of
// 1, 16 or 64, in each mode. ns/op is per record; p50-us and p99-us are the
// latency of a whole batch (its appends and its Sync), what a worker adds to
// the batch's replies.
func BenchmarkAppendSync(b *testing.B) {
	for _, mode := range []Mode{ModeAlways, ModeBatch, ModeNever} {
		for _, batch := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("mode=%s/batch=%d", mode, batch), func(b *testing.B) {
				l, _ := openRecover(b, Config{Dir: b.TempDir(), Mode: mode})
				defer l.Close()
				r := Record{Partition: 1, Epoch: 1, Payload: make([]byte, benchPayload)}
				lat := make([]time.Duration, 0, b.N/batch+1)
				b.ReportAllocs()
				b.SetBytes(int64(frameLen(benchPayload)))
				b.ResetTimer()
				start := time.Now()
				for i := range b.N {
					r.LSN = uint64(i + 1)
					r.RequestID = uint64(i + 1)
					if err := l.Append(r); err != nil {
						b.Fatal(err)
					}
					if (i+1)%batch == 0 || i == b.N-1 {
						if err := l.Sync(); err != nil {
							b.Fatal(err)
						}
						now := time.Now()
						lat = append(lat, now.Sub(start))
						start = now
					}
				}
				b.StopTimer()
				reportLatency(b, lat)
			})
		}
	}
}

// BenchmarkFsyncBaseline is the floor under ModeAlways: a plain os.File
// write of one record's bytes followed by fsync, no framing, no checksum.
func BenchmarkFsyncBaseline(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, frameLen(benchPayload))
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(f float64) float64 {
		return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(q(0.50), "p50-us")
	b.ReportMetric(q(0.99), "p99-us")
}

// BenchmarkRecover times Open+Recover of a log of 64 MiB (1 GiB with
// NS_WAL_BIG=1) of 128-byte records in 64 MiB segments: "warm" with the
// files in the page cache, "cold" after dropping them from it (Linux only).
func BenchmarkRecover(b *testing.B) {
	size := int64(64 << 20)
	name := "64MiB"
	if os.Getenv("NS_WAL_BIG") == "1" {
		size, name = 1<<30, "1GiB"
	}
	dir := b.TempDir()
	l, _ := openRecover(b, Config{Dir: dir, Mode: ModeNever})
	r := Record{Partition: 0, Epoch: 1, Payload: make([]byte, benchPayload)}
	n := int(size / int64(frameLen(benchPayload)))
	built := time.Now()
	for i := range n {
		r.Partition = uint32(i % 64)
		r.LSN = uint64(i + 1)
		if err := l.Append(r); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a %s log of %d records in %v", name, n, time.Since(built))
	for _, cold := range []bool{false, true} {
		label := "warm"
		if cold {
			label = "cold"
		}
		b.Run(name+"/"+label, func(b *testing.B) {
			if cold && !canDropCache {
				b.Skip("dropping the page cache is Linux only")
			}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if cold {
					b.StopTimer()
					if err := dropCache(dir); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				l, err := Open(Config{Dir: dir, Mode: ModeNever})
				if err != nil {
					b.Fatal(err)
				}
				count := 0
				info, err := l.Recover(nil, func(Record) error { count++; return nil })
				if err != nil {
					b.Fatal(err)
				}
				if count != n {
					b.Fatalf("replayed %d records, want %d", count, n)
				}
				_ = info
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
