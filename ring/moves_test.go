package ring

import (
	"cmp"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// change is what one membership change (a join or a leave) moves.
type change struct {
	moved  int     // partitions whose owner changes
	toNew  int     // of which to the joining member (a join) or from the leaving one (a leave)
	copies int     // members that hold a partition (owner or backup) and did not before
	ideal  float64 // P/(N+1) on a join of the (N+1)th member, P/N on a leave of one of N
}

// measureChange builds the tables of before and after (which differ by one
// member, id) and counts what changes.
func measureChange(t fataler, cfg Config, before, after []Member, id string) change {
	t.Helper()
	tb, ta := mustNew(t, cfg, 1, before), mustNew(t, cfg, 2, after)
	c := change{ideal: float64(cfg.Partitions) / float64(max(len(before), len(after)))}
	for _, m := range Diff(tb, ta) {
		if m.OwnerChanged() {
			c.moved++
			if m.To == id || m.From == id {
				c.toNew++
			}
		}
		old := append([]string{m.From}, m.BackupsFrom...)
		for _, b := range append([]string{m.To}, m.BackupsTo...) {
			if !slices.Contains(old, b) {
				c.copies++
			}
		}
	}
	return c
}

// movesBand is a range of partitions per member, the mean moved/ideal
// allowed over its joins (and, separately, over its leaves) and the most
// allowed for any one change.
type movesBand struct {
	lo, hi  int // P/N in [lo, hi)
	mean    float64
	perCase float64
}

// v3Bands are placement v3's bounds. Measured over 100 draws per row
// (docs/rebalancing.md section 4), joins and leaves moved on average at
// most 1.43x the ideal at 16-24 partitions per member, 1.26x at 24-32,
// 1.10x at 32-64 and 1.05x at 64-128, and no change moved more than 2.40x,
// 1.70x, 1.44x and 1.34x; the default 32 draws measure at most 1.45x,
// 1.30x, 1.12x and 1.04x on average. The bounds leave some room above those
// figures. Placement v2 fails them: single joins and leaves move up to 9.7x
// the ideal (when its cap steps), and 1.66x on average at 16-24.
var v3Bands = []movesBand{
	{16, 24, 1.55, 2.75},
	{24, 32, 1.35, 2},
	{32, 64, 1.15, 1.7},
	{64, 128, 1.1, 1.5},
}

// TestMoves checks, for placement v3 and each partition count and band of
// partitions per member, the partitions that change owner when a member
// joins or leaves, over draws random member counts in the band (each with
// its own member names): the mean over the draws, and every single change,
// against the band's bounds. Owners and copies (a member that must fetch a
// partition it did not hold, as owner or backup, with one backup) are
// printed separately; run it with -v for the figures of docs/rebalancing.md:
//
//	RING_DRAWS=60 go test ./ring -run TestMoves -v -count=1
//
// RING_PLACEMENT=2 runs the same bounds against another version.
func TestMoves(t *testing.T) {
	draws := getenvInt(t, "RING_DRAWS")
	if draws == 0 {
		draws = 32
	}
	version := PlacementV3
	if v := getenvInt(t, "RING_PLACEMENT"); v != 0 {
		version = v
	}
	seed := uint64(12345)
	rnd := func(k int) int { seed = mix64(seed + golden); return int(seed % uint64(k)) }
	t.Logf("placement v%d, %d random member counts per row, one backup", version, draws)
	t.Logf("| P | P/N | N | join: moved/ideal, mean | worst | between old members, mean | copies/ideal, mean | worst | leave: moved/ideal, mean | worst | copies/ideal, mean |")
	t.Logf("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, p := range []int{2048, 4096, 16384} {
		for _, band := range v3Bands {
			lo, hi := p/band.hi+1, min(p/band.lo, 1000)
			if lo > hi {
				continue
			}
			cfg := DefaultConfig()
			cfg.Partitions, cfg.Backups, cfg.Placement = p, 1, version
			var join, leave struct{ sum, worst, old, copies, worstCopies float64 }
			for d := range draws {
				n := lo + rnd(hi-lo+1)
				ms := namedMembers(100+d, n+1)
				j := measureChange(t, cfg, ms[:n], ms, ms[n].ID)
				gone := rnd(n)
				rest := append(slices.Clone(ms[:gone]), ms[gone+1:n]...)
				l := measureChange(t, cfg, ms[:n], rest, ms[gone].ID)
				for _, x := range []struct {
					name string
					c    change
					acc  *struct{ sum, worst, old, copies, worstCopies float64 }
				}{{"join", j, &join}, {"leave", l, &leave}} {
					r := float64(x.c.moved) / x.c.ideal
					if r > band.perCase {
						t.Errorf("P=%d N=%d (set %d): a %s moves %d owners, %.2fx the ideal %.1f; want <= %vx", p, n, 100+d, x.name, x.c.moved, r, x.c.ideal, band.perCase)
					}
					x.acc.sum += r
					x.acc.worst = max(x.acc.worst, r)
					x.acc.old += float64(x.c.moved-x.c.toNew) / x.c.ideal
					cr := float64(x.c.copies) / (2 * x.c.ideal)
					x.acc.copies += cr
					x.acc.worstCopies = max(x.acc.worstCopies, cr)
				}
			}
			f := float64(draws)
			for _, x := range []struct {
				name string
				mean float64
			}{{"joins", join.sum / f}, {"leaves", leave.sum / f}} {
				if x.mean > band.mean {
					t.Errorf("P=%d, %d-%d members (%d-%d partitions each): %s move %.3fx the ideal on average; want <= %v", p, lo, hi, band.lo, band.hi, x.name, x.mean, band.mean)
				}
			}
			t.Logf("| %d | %d-%d | %d-%d | %.3f | %.2f | %.3f | %.3f | %.2f | %.3f | %.2f | %.3f |", p, band.lo, band.hi, lo, hi,
				join.sum/f, join.worst, join.old/f, join.copies/f, join.worstCopies, leave.sum/f, leave.worst, leave.copies/f)
		}
	}
}

// TestPropertyMovesV3 bounds, for placement version 3 and at least 16
// partitions per member, the partitions that change owner when one member
// joins or leaves, at any size: 2.75x the ideal plus 2 (the worst of
// TestMoves's bands; placement v2 allows 6x plus 2 in TestPropertyMovesV2,
// for its cap steps).
func TestPropertyMovesV3(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n, partitions := genScale(t, 200, 16)
		cfg := Config{Partitions: partitions, Backups: 1, Placement: PlacementV3}
		ms := genNamed(t, n+1)
		j := measureChange(t, cfg, ms[:n], ms, ms[n].ID)
		if float64(j.moved) > 2.75*j.ideal+2 {
			t.Fatalf("join N=%d->%d P=%d: %d partitions change owner, ideal %.1f", n, n+1, partitions, j.moved, j.ideal)
		}
		if n == 1 {
			return
		}
		gone := rapid.IntRange(0, n-1).Draw(t, "leaver")
		rest := append(slices.Clone(ms[:gone]), ms[gone+1:n]...)
		l := measureChange(t, cfg, ms[:n], rest, ms[gone].ID)
		if float64(l.moved) > 2.75*l.ideal+2 {
			t.Fatalf("leave N=%d->%d P=%d: %d partitions change owner, ideal %.1f", n, n-1, partitions, l.moved, l.ideal)
		}
	})
}

// TestMovesFloor prints, for placement v3 at single sizes over 20 name
// sets, what bounds its moves from below (docs/rebalancing.md section 4,
// "Why not 1.1x"): the share of members whose natural partition count
// (partitions whose first point clockwise is the member's) reaches or
// exceeds their cap, the share holding more than 1.1x the mean (a new
// member is one of them that often), and the moves on a join with the
// load bound and without it (Load 16), with the max/mean the latter gives.
// It asserts nothing and runs only when RING_FLOOR is set:
//
//	RING_FLOOR=1 go test ./ring -run TestMovesFloor -v -count=1
func TestMovesFloor(t *testing.T) {
	if getenvInt(t, "RING_FLOOR") == 0 {
		t.Skip("set RING_FLOOR=1 to print the figures")
	}
	const sets = 20
	t.Logf("| N | P | P/N | natural >= cap | natural > cap | load > 1.1x mean | join moved/ideal | unbounded: moved/ideal | unbounded: max/mean |")
	t.Logf("|---|---|---|---|---|---|---|---|---|")
	for _, sz := range []struct{ n, p int }{{1000, 16384}, {100, 2048}, {101, 2048}, {500, 16384}, {100, 4096}, {250, 16384}, {1000, 65536}, {128, 16384}} {
		var atCap, overCap, above, moves, movesUnbounded, worstUnbounded float64
		for set := range sets {
			ms := namedMembers(200+set, sz.n+1)
			cfg := DefaultConfig()
			cfg.Partitions, cfg.Placement = sz.p, PlacementV3
			tb := mustNew(t, cfg, 1, ms[:sz.n])
			sorted := tb.Members()
			ring := buildRing2(sorted, cfg.VirtualNodes)
			caps := memberCaps(sorted, sz.p, cfg.Load)
			natural := make([]int, sz.n)
			for p := range sz.p {
				key := partitionPoint3(p, sz.p)
				i, _ := slices.BinarySearchFunc(ring, key, func(pt point, k uint64) int { return cmp.Compare(pt.hash, k) })
				natural[ring[i%len(ring)].member]++
			}
			owned := make([]int, sz.n)
			for _, o := range tb.Owners() {
				owned[o]++
			}
			for m := range sz.n {
				if natural[m] >= caps[m] {
					atCap++
				}
				if natural[m] > caps[m] {
					overCap++
				}
				if float64(owned[m]) > 1.1*float64(sz.p)/float64(sz.n) {
					above++
				}
			}
			c := measureChange(t, cfg, ms[:sz.n], ms, ms[sz.n].ID)
			moves += float64(c.moved) / c.ideal
			cfg.Load = MaxLoad
			c = measureChange(t, cfg, ms[:sz.n], ms, ms[sz.n].ID)
			movesUnbounded += float64(c.moved) / c.ideal
			hi, mean := mustNew(t, cfg, 1, ms[:sz.n]).Load()
			worstUnbounded = max(worstUnbounded, hi/mean)
		}
		members := float64(sets * sz.n)
		t.Logf("| %d | %d | %.1f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f |", sz.n, sz.p, float64(sz.p)/float64(sz.n),
			atCap/members, overCap/members, above/members, moves/sets, movesUnbounded/sets, worstUnbounded)
	}
}
