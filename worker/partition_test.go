package worker

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"pgregory.net/rapid"
)

func mustRange(t fataler, bounds ...string) *Range {
	t.Helper()
	r, err := NewRange(bounds...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustWeighted(t fataler, weights ...int) *Weighted {
	t.Helper()
	w, err := NewWeighted(weights...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestPartitionersStable: same key and n give the same worker, always in
// range, and a fresh instance (another process) agrees.
func TestPartitionersStable(t *testing.T) {
	cases := []struct {
		name string
		new  func(n int) Partitioner
	}{
		{"Hash", func(int) Partitioner { return Hash{} }},
		{"Consistent", func(int) Partitioner { return NewConsistent(0) }},
		{"Range", func(n int) Partitioner {
			bounds := make([]string, n-1)
			for i := range bounds {
				bounds[i] = fmt.Sprintf("k%03d", (i+1)*1000/n)
			}
			return mustRange(t, bounds...)
		}},
		{"Weighted", func(n int) Partitioner {
			ws := make([]int, n)
			for i := range ws {
				ws[i] = i + 1
			}
			return mustWeighted(t, ws...)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				n := rapid.IntRange(1, 64).Draw(rt, "n")
				a, b := c.new(n), c.new(n)
				for range 20 {
					key := rapid.String().Draw(rt, "key")
					w := a.Partition(key, n)
					if w < 0 || w >= n {
						rt.Fatalf("Partition(%q, %d) = %d out of range", key, n, w)
					}
					if a.Partition(key, n) != w || b.Partition(key, n) != w {
						rt.Fatalf("Partition(%q, %d) not stable", key, n)
					}
				}
			})
		})
	}
}

func TestHashGolden(t *testing.T) {
	// Pinned so a change of hash (which would move every key) is noticed:
	// XXH64 reference vectors, seed 0.
	for key, want := range map[string]uint64{"": 0xef46db3751d8e999, "a": 0xd24ec4f1a98c6e5b, "hello": 0x26c7827d889f6da3} {
		if got := HashKey(key); got != want {
			t.Errorf("HashKey(%q) = %#x, want %#x", key, got, want)
		}
	}
	for key, want := range map[string]int{"": 1, "a": 3, "user:42": 2, "hello": 3} {
		if got := (Hash{}).Partition(key, 8); got != want {
			t.Errorf("Hash.Partition(%q, 8) = %d, want %d", key, got, want)
		}
	}
}

func TestRangeBounds(t *testing.T) {
	if _, err := NewRange("b", "a"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("unsorted bounds: %v", err)
	}
	if _, err := NewRange("a", "a"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("duplicate bounds: %v", err)
	}
	r := mustRange(t, "g", "p")
	for key, want := range map[string]int{"": 0, "a": 0, "fzz": 0, "g": 1, "g0": 1, "ozz": 1, "p": 2, "zzz": 2} {
		if got := r.Partition(key, 3); got != want {
			t.Errorf("Partition(%q) = %d, want %d", key, got, want)
		}
	}
	rapid.Check(t, func(rt *rapid.T) {
		bounds := rapid.SliceOfNDistinct(rapid.String(), 1, 10, rapid.ID[string]).Draw(rt, "bounds")
		sortStrings(bounds)
		r := mustRange(rt, bounds...)
		key := rapid.String().Draw(rt, "key")
		i := r.Partition(key, len(bounds)+1)
		if i > 0 && key < bounds[i-1] {
			rt.Fatalf("key %q below lower bound %q of range %d", key, bounds[i-1], i)
		}
		if i < len(bounds) && key >= bounds[i] {
			rt.Fatalf("key %q not below upper bound %q of range %d", key, bounds[i], i)
		}
	})
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestConsistentMovement: growing from n to n+1 workers moves about
// 1/(n+1) of the keys, and every moved key moves to the new worker.
func TestConsistentMovement(t *testing.T) {
	const keys = 20000
	for _, n := range []int{1, 2, 4, 8, 16} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c := NewConsistent(0)
			before := make([]int, keys)
			for k := range keys {
				before[k] = c.Partition(fmt.Sprintf("key-%d", k), n)
			}
			moved := 0
			for k := range keys {
				after := c.Partition(fmt.Sprintf("key-%d", k), n+1)
				if after != before[k] {
					moved++
					if after != n {
						t.Fatalf("key %d moved from %d to old worker %d", k, before[k], after)
					}
				}
			}
			want := float64(keys) / float64(n+1)
			if math.Abs(float64(moved)-want) > 0.25*want {
				t.Errorf("moved %d keys, want %.0f ± 25%%", moved, want)
			}
		})
	}
}

func TestDistribution(t *testing.T) {
	const keys = 40000
	cases := []struct {
		name  string
		p     Partitioner
		n     int
		share []float64 // expected fraction per worker
	}{
		{"Hash", Hash{}, 4, []float64{.25, .25, .25, .25}},
		{"Consistent", NewConsistent(0), 4, []float64{.25, .25, .25, .25}},
		{"RoundRobin", &RoundRobin{}, 4, []float64{.25, .25, .25, .25}},
		{"Weighted", mustWeighted(t, 1, 2, 5, 0), 4, []float64{.125, .25, .625, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			counts := make([]int, c.n)
			for k := range keys {
				counts[c.p.Partition(fmt.Sprintf("k%d", k), c.n)]++
			}
			for i, want := range c.share {
				got := float64(counts[i]) / keys
				if math.Abs(got-want) > 0.15*want+1e-9 {
					t.Errorf("worker %d got %.3f of keys, want %.3f", i, got, want)
				}
			}
		})
	}
}

func TestWeightedValidation(t *testing.T) {
	for _, ws := range [][]int{nil, {0, 0}, {1, -1}} {
		if _, err := NewWeighted(ws...); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewWeighted(%v) = %v, want ErrInvalidConfig", ws, err)
		}
	}
}

func TestPartitionerFunc(t *testing.T) {
	var p Partitioner = PartitionerFunc(func(key string, n int) int { return len(key) % n })
	if got := p.Partition("abc", 2); got != 1 {
		t.Fatalf("got %d", got)
	}
}
