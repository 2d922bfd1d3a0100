package cluster

import (
	"fmt"
	"testing"
)

func BenchmarkDecodeMeta(b *testing.B) {
	buf, err := wireMeta{Meta: Meta{GRPCAddr: "10.1.2.3:7700", Zone: "eu-west-1a", Workers: 8, Version: "v0.1.0"}, Epoch: 42, SetHash: 1}.appendTo(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := decodeWire(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompute measures one view computation after a member's metadata
// changed, for growing clusters.
func BenchmarkCompute(b *testing.B) {
	for _, n := range []int{3, 10, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tr := newTracker("n0", "n0:1", Meta{}, t0)
			for i := 1; i < n; i++ {
				tr.alive(fmt.Sprintf("n%d", i), "x:1", wireMeta{Epoch: 1}, t0)
			}
			tr.compute()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				tr.alive("n1", "x:1", wireMeta{Epoch: 1, Meta: Meta{Workers: i % 2}}, t0)
				tr.compute()
			}
		})
	}
}
