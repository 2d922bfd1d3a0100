package ring

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
)

// nameSets is how many member naming schemes TestRebalanceFigures averages
// over; set 0 is members(n), the others prefix the IDs.
const nameSets = 8

// namedMembers returns n members of naming scheme set.
func namedMembers(set, n int) []Member {
	ms := members(n)
	if set > 0 {
		for i := range ms {
			ms[i].ID = fmt.Sprintf("set%d-%s", set, ms[i].ID)
		}
	}
	return ms
}

// growth measures adding the (n+1)th member to n members.
type growth struct {
	moved      int     // partitions whose owner changes
	toNew      int     // of which go to the new member
	backupsMov int     // with one backup: partitions whose backup changes
	loadBefore float64 // max/mean with n members
	loadAfter  float64 // max/mean with n+1 members
	minAfter   float64 // min/mean with n+1 members
}

func measureGrowth(t testing.TB, cfg Config, set, n int) growth {
	t.Helper()
	ms := namedMembers(set, n+1)
	cfg.Backups = 1
	before, after := mustNew(t, cfg, 1, ms[:n]), mustNew(t, cfg, 2, ms)
	var g growth
	for _, m := range Diff(before, after) {
		if m.OwnerChanged() {
			g.moved++
			if m.To == ms[n].ID {
				g.toNew++
			}
		}
		if !slices.Equal(m.BackupsFrom, m.BackupsTo) {
			g.backupsMov++
		}
	}
	hi, mean := before.Load()
	g.loadBefore = hi / mean
	hi, mean = after.Load()
	g.loadAfter = hi / mean
	counts := make([]int, n+1)
	for _, o := range after.Owners() {
		counts[o]++
	}
	g.minAfter = float64(slices.Min(counts)) / mean
	return g
}

// TestRebalanceFigures checks, for the first of nameSets naming schemes and
// on average over all, that adding the (N+1)th member moves about
// 1/(N+1) of the partitions, for N = 1..16, and that max/mean load stays
// within 1.25. Run it with -v to print the figures of docs/rebalancing.md:
//
//	go test ./ring -run TestRebalanceFigures -v -count=1
//
// Set RING_VNODES=100 (say) to print them for another VirtualNodes.
func TestRebalanceFigures(t *testing.T) {
	cfg := DefaultConfig()
	if v := getenvInt(t, "RING_VNODES"); v > 0 {
		cfg.VirtualNodes = v
	}
	p := float64(cfg.Partitions)
	t.Logf("P=%d VirtualNodes=%d Load=%v; moved/ideal over %d name sets", cfg.Partitions, cfg.VirtualNodes, cfg.Load, nameSets)
	t.Logf("| N -> N+1 | ideal P/(N+1) | moved | to new member | moved/ideal | moved/ideal, mean and max of %d sets | backup changed (B=1) | max/mean, worst set | min/mean, worst set |", nameSets)
	t.Logf("|---|---|---|---|---|---|---|---|---|")
	for n := 1; n <= 16; n++ {
		ideal := p / float64(n+1)
		var sum, worst, worstLoad float64
		worstMin := 1.0
		var first growth
		for set := range nameSets {
			g := measureGrowth(t, cfg, set, n)
			if set == 0 {
				first = g
			}
			r := float64(g.moved) / ideal
			sum += r
			worst = max(worst, r)
			worstLoad = max(worstLoad, g.loadBefore, g.loadAfter)
			worstMin = min(worstMin, g.minAfter)

			// Tolerances: bounded loads move a few partitions between old
			// members besides those the new member takes (a cascade), more
			// as N grows and the caps bind.
			if r > 2 {
				t.Errorf("N=%d set %d: moved %d partitions, %.2fx the ideal %.1f", n, set, g.moved, r, ideal)
			}
			if float64(g.toNew) < 0.5*ideal {
				t.Errorf("N=%d set %d: new member takes %d partitions, ideal %.1f", n, set, g.toNew, ideal)
			}
			if g.loadBefore > cfg.Load || g.loadAfter > cfg.Load {
				t.Errorf("N=%d set %d: max/mean load %.3f, %.3f > %v", n, set, g.loadBefore, g.loadAfter, cfg.Load)
			}
		}
		if mean := sum / nameSets; mean > 1.5 {
			t.Errorf("N=%d: moved/ideal %.2f on average over %d name sets", n, mean, nameSets)
		}
		t.Logf("| %d -> %d | %.1f (%.1f%%) | %d (%.1f%%) | %d | %.2f | %.2f, %.2f | %d (%.1f%%) | %.3f | %.3f |",
			n, n+1, ideal, 100/float64(n+1), first.moved, 100*float64(first.moved)/p, first.toNew,
			float64(first.moved)/ideal, sum/nameSets, worst, first.backupsMov, 100*float64(first.backupsMov)/p, worstLoad, worstMin)
	}
}

// getenvInt returns the integer in the environment variable name, 0 if unset.
func getenvInt(t testing.TB, name string) int {
	s := os.Getenv(name)
	if s == "" {
		return 0
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		panic(fmt.Sprintf("%s=%q: %v", name, s, err))
	}
	return v
}
