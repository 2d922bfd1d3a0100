package kv

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkPrefetch measures GETs in batches of 16 random keys (the node's
// batches at pipeline 16) over stores too large for the L2 cache, applied
// one after another ("serial", the baseline) or after prefetching the
// whole batch ("prefetched"). ns/op is per GET.
func BenchmarkPrefetch(b *testing.B) {
	const batch = 16
	for _, n := range []int{100_000, 1_000_000} {
		s := NewStore()
		keys := make([][]byte, n)
		v := bytes.Repeat([]byte{'v'}, 64)
		for i := range keys {
			keys[i] = []byte("key:" + strconv.Itoa(i) + ":0000")
			if _, err := s.Apply(t0, &Request{Op: OpPut, Key: keys[i], Value: v}); err != nil {
				b.Fatal(err)
			}
		}
		// keys[i] is read while the batch is encoded, so it is in cache
		// in both variants; what differs is the store's slot and record.
		rng := rand.New(rand.NewPCG(1, 2))
		order := make([]int32, 1<<20)
		for i := range order {
			order[i] = int32(rng.IntN(n))
		}
		for _, pre := range []bool{false, true} {
			name := "serial"
			if pre {
				name = "prefetched"
			}
			b.Run(strconv.Itoa(n)+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				var out, in []byte
				var reqs [batch][]byte
				var pf Prefetcher
				o := 0
				for b.Loop() {
					// The batch's requests as they arrive: fresh in one
					// buffer (in cache), their keys in the store (not).
					idx := order[o : o+batch]
					o = (o + batch) & (len(order) - 1)
					in = in[:0]
					for j, i := range idx {
						start := len(in)
						in, _ = (&Request{Op: OpGet, Key: keys[i]}).AppendBinary(in)
						reqs[j] = in[start:len(in):len(in)]
					}
					if pre {
						for j := range reqs {
							if k, ok := RequestKey(reqs[j]); ok {
								pf.Add(s, k)
							}
						}
						pf.Run()
					}
					for j := range reqs {
						var err error
						if out, err = s.HandleAppend(out[:0], t0, reqs[j]); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/get")
			})
		}
	}
}
