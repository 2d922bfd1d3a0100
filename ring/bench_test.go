package ring

import (
	"fmt"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// BenchmarkNew measures building a table with one backup (as nodes do with
// --backups 1), for each placement version and cluster size (issue 18's
// targets: at most 50 ms at 1,000 x 16,384 and 5 ms at 100 x 4,096):
//
//	go test ./ring -run '^$' -bench 'New/' -benchtime=10x -count=5
//
// Placement v1 is skipped above 100 members: consistent re-sorts its ring
// after each member it adds, seconds per table at 500 members.
func BenchmarkNew(b *testing.B) {
	sizes := []struct{ members, partitions int }{{10, 271}, {100, 4096}, {1000, 16384}, {2000, 65536}}
	for _, v := range placements {
		for _, sz := range sizes {
			b.Run(fmt.Sprintf("v%d/%dx%d", v, sz.members, sz.partitions), func(b *testing.B) {
				if v == PlacementV1 && sz.members > 100 {
					b.Skip("placement v1 costs O(N^2 V log(NV)) in consistent.New: seconds per table above a few hundred members")
				}
				cfg := DefaultConfig()
				cfg.Partitions, cfg.Backups, cfg.Placement = sz.partitions, 1, v
				ms := members(sz.members)
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
