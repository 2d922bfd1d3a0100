package ring

import (
	"fmt"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// BenchmarkNew measures building a table with the default config, without
// and with two backups, for 3, 16 and 64 members.
func BenchmarkNew(b *testing.B) {
	for _, backups := range []int{0, 2} {
		for _, n := range []int{3, 16, 64} {
			b.Run(fmt.Sprintf("backups=%d/members=%d", backups, n), func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.Backups = backups
				ms := members(n)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := New(cfg, 1, ms); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkFromAssignment measures rebuilding a 16-member table received
// over the wire, the client's cost per table change.
func BenchmarkFromAssignment(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Backups = 1
	tb := mustNew(b, cfg, 1, members(16))
	backups := make([][]int, tb.Partitions())
	for p := range backups {
		backups[p] = tb.BackupIndexes(p)
	}
	ms, owners := tb.Members(), tb.Owners()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromAssignment(cfg, 1, ms, owners, backups); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPartitionOf measures the key hash, with raw xxhash as the
// baseline, and the full route key -> owner.
func BenchmarkPartitionOf(b *testing.B) {
	tb := mustNew(b, DefaultConfig(), 1, members(16))
	for _, size := range []int{16, 256} {
		key := make([]byte, size)
		b.Run(fmt.Sprintf("xxhash/key=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			var sink uint64
			for b.Loop() {
				sink += xxhash.Sum64(key)
			}
			_ = sink
		})
		b.Run(fmt.Sprintf("PartitionOf/key=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			sink := 0
			for b.Loop() {
				sink += PartitionOf(key, 271)
			}
			_ = sink
		})
		b.Run(fmt.Sprintf("Owner/key=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			sink := 0
			for b.Loop() {
				sink += len(tb.Owner(tb.PartitionOf(key)).Addr)
			}
			_ = sink
		})
	}
}
