package cluster

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestTrackerInitial(t *testing.T) {
	tr := newTracker("a", "10.0.0.1:7946", Meta{Zone: "z"}, t0)
	v, changed, adv := tr.compute()
	if changed || adv {
		t.Fatalf("first compute changed=%v advertise=%v, want neither", changed, adv)
	}
	if v.Epoch != 1 || v.Local != "a" || len(v.Members) != 1 || v.Members[0].Meta.Zone != "z" {
		t.Fatalf("initial view %+v", v)
	}
	if v.Hash != setHash([]string{"a"}) {
		t.Fatalf("hash %x", v.Hash)
	}
}

func TestTrackerEpochRule(t *testing.T) {
	type step struct {
		do        func(tr *tracker)
		wantEpoch uint64
		wantIDs   []string
	}
	adv := func(epoch uint64, ids ...string) wireMeta {
		return wireMeta{Epoch: epoch, SetHash: setHash(ids)}
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"join bumps past every advertised epoch", []step{
			{func(tr *tracker) { tr.alive("b", "b:1", adv(7, "b", "c"), t0) }, 8, []string{"a", "b"}},
		}},
		{"adopt larger epoch for the same set", []step{
			{func(tr *tracker) { tr.alive("b", "b:1", adv(1, "b"), t0) }, 2, []string{"a", "b"}},
			{func(tr *tracker) { tr.alive("b", "b:1", adv(5, "a", "b"), t0) }, 5, []string{"a", "b"}},
		}},
		{"ignore larger epoch for another set", []step{
			{func(tr *tracker) { tr.alive("b", "b:1", adv(1, "b"), t0) }, 2, []string{"a", "b"}},
			{func(tr *tracker) { tr.alive("b", "b:1", adv(9, "a", "b", "c"), t0) }, 2, []string{"a", "b"}},
		}},
		{"ignore smaller epoch for the same set", []step{
			{func(tr *tracker) { tr.alive("b", "b:1", adv(4, "b"), t0) }, 5, []string{"a", "b"}},
			{func(tr *tracker) { tr.alive("b", "b:1", adv(3, "a", "b"), t0) }, 5, []string{"a", "b"}},
		}},
		{"leave bumps and ignores the dead member's epoch", []step{
			{func(tr *tracker) { tr.alive("b", "b:1", adv(1, "b"), t0) }, 2, []string{"a", "b"}},
			{func(tr *tracker) { tr.gone("b", "b:1", adv(50, "a", "b"), true, t0) }, 3, []string{"a"}},
		}},
		{"rejoin bumps again", []step{
			{func(tr *tracker) { tr.alive("b", "b:1", adv(1, "b"), t0) }, 2, []string{"a", "b"}},
			{func(tr *tracker) { tr.gone("b", "b:1", wireMeta{}, false, t0) }, 3, []string{"a"}},
			{func(tr *tracker) { tr.alive("b", "b:1", adv(1, "b"), t0) }, 4, []string{"a", "b"}},
		}},
		{"events about the local node change nothing", []step{
			{func(tr *tracker) { tr.gone("a", "a:1", adv(9, "a"), true, t0) }, 1, []string{"a"}},
			{func(tr *tracker) { tr.alive("a", "a:1", adv(9, "a"), t0) }, 1, []string{"a"}},
		}},
		{"epoch saturates at the ceiling", []step{
			{func(tr *tracker) { tr.alive("b", "b:1", adv(maxEpoch, "x"), t0) }, maxEpoch, []string{"a", "b"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker("a", "a:1", Meta{}, t0)
			last := uint64(1)
			for i, s := range tt.steps {
				s.do(tr)
				v, _, _ := tr.compute()
				if v.Epoch != s.wantEpoch || !slices.Equal(v.IDs(), s.wantIDs) {
					t.Fatalf("step %d: epoch %d members %v, want %d %v", i, v.Epoch, v.IDs(), s.wantEpoch, s.wantIDs)
				}
				if v.Epoch < last {
					t.Fatalf("step %d: epoch went down %d -> %d", i, last, v.Epoch)
				}
				last = v.Epoch
				if tr.self.Epoch != v.Epoch || tr.self.SetHash != v.Hash {
					t.Fatalf("step %d: advertises %d/%x, view %d/%x", i, tr.self.Epoch, tr.self.SetHash, v.Epoch, v.Hash)
				}
			}
		})
	}
}

func TestTrackerStatesAndReap(t *testing.T) {
	tr := newTracker("a", "a:1", Meta{}, t0)
	tr.alive("b", "b:1", wireMeta{Epoch: 1, Meta: Meta{Zone: "zb"}}, t0)
	tr.alive("c", "c:1", wireMeta{Epoch: 1}, t0)
	tr.alive("d", "d:1", wireMeta{Epoch: 1, Leaving: true}, t0)
	tr.gone("c", "c:1", wireMeta{Epoch: 1}, true, t0.Add(time.Minute))
	tr.gone("d", "d:1", wireMeta{Epoch: 1, Leaving: true}, true, t0.Add(2*time.Minute))
	v, _, _ := tr.compute()
	if !slices.Equal(v.IDs(), []string{"a", "b"}) {
		t.Fatalf("view %v", v.IDs())
	}
	if m, ok := v.Member("b"); !ok || m.Meta.Zone != "zb" || m.GossipAddr != "b:1" {
		t.Fatalf("Member(b) = %+v, %v", m, ok)
	}
	if _, ok := v.Member("c"); ok {
		t.Fatal("dead member c in view")
	}
	var got []string
	for _, m := range tr.all() {
		got = append(got, m.ID+"="+m.State.String())
	}
	if want := []string{"a=alive", "b=alive", "c=dead", "d=left"}; !slices.Equal(got, want) {
		t.Fatalf("all() = %v, want %v", got, want)
	}
	if n := tr.reap(t0.Add(90 * time.Second)); n != 1 {
		t.Fatalf("reap removed %d, want 1 (c)", n)
	}
	if n := len(tr.all()); n != 3 {
		t.Fatalf("%d members after reap, want 3", n)
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{StateAlive: "alive", StateSuspect: "suspect", StateDead: "dead", StateLeft: "left", State(9): "State(9)"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(s), got, want)
		}
	}
}

// TestEpochAgreementRapid drives several trackers through a random history
// of partial views and partial gossip, then lets them all see the same member
// set and gossip to a fixpoint. Epochs never decrease, and at the fixpoint
// every node has the same epoch, larger than any it held before.
func TestEpochAgreementRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 6).Draw(t, "nodes")
		ids := make([]string, n)
		trs := make([]*tracker, n)
		for i := range n {
			ids[i] = fmt.Sprintf("n%d", i)
			trs[i] = newTracker(ids[i], ids[i]+":1", Meta{}, t0)
		}
		last := make([]uint64, n)
		check := func(i int) {
			v, _, _ := trs[i].compute()
			if v.Epoch < last[i] {
				t.Fatalf("%s: epoch went down %d -> %d", ids[i], last[i], v.Epoch)
			}
			last[i] = v.Epoch
		}
		// deliver tells node i what node j advertises now (alive or gone).
		deliver := func(i, j int, alive bool) {
			if alive {
				trs[i].alive(ids[j], ids[j]+":1", trs[j].self, t0)
			} else {
				trs[i].gone(ids[j], ids[j]+":1", trs[j].self, true, t0)
			}
			check(i)
		}
		steps := rapid.IntRange(0, 40).Draw(t, "steps")
		for range steps {
			i := rapid.IntRange(0, n-1).Draw(t, "i")
			j := rapid.IntRange(0, n-1).Draw(t, "j")
			deliver(i, j, rapid.IntRange(0, 3).Draw(t, "alive") > 0)
		}
		before := slices.Max(last)
		// Heal: everyone sees everyone, gossip in a random order to a fixpoint.
		order := rapid.Permutation(pairs(n)).Draw(t, "order")
		for round := 0; ; round++ {
			if round > 2*n+2 {
				t.Fatalf("no fixpoint after %d rounds: %v", round, last)
			}
			prev := slices.Clone(last)
			prevSelf := make([]wireMeta, n)
			for i := range n {
				prevSelf[i] = trs[i].self
			}
			for _, p := range order {
				deliver(p[0], p[1], true)
			}
			stable := slices.Equal(prev, last)
			for i := range n {
				stable = stable && prevSelf[i] == trs[i].self
			}
			if stable {
				break
			}
		}
		for i := range n {
			v := trs[i].view
			if !slices.Equal(v.IDs(), ids) {
				t.Fatalf("%s sees %v", ids[i], v.IDs())
			}
			if v.Epoch != last[0] || v.Hash != trs[0].view.Hash {
				t.Fatalf("no agreement: epochs %v", last)
			}
		}
		if steps > 0 && last[0] < before {
			t.Fatalf("final epoch %d below an earlier epoch %d", last[0], before)
		}
	})
}

// pairs returns every ordered pair (i, j), i != j, of 0..n-1.
func pairs(n int) [][2]int {
	var ps [][2]int
	for i := range n {
		for j := range n {
			if i != j {
				ps = append(ps, [2]int{i, j})
			}
		}
	}
	return ps
}

// TestTrackerStartEpoch: a tracker started at an epoch (a node restarted
// from its data directory) numbers its first view with it and the next
// member sets above it.
func TestTrackerStartEpoch(t *testing.T) {
	t0 := time.Unix(0, 0)
	tr := newTracker("a", "a:1", Meta{}, t0)
	tr.startAt(40)
	if v := tr.view; v.Epoch != 40 {
		t.Fatalf("first view epoch %d, want 40", v.Epoch)
	}
	b := wireMeta{Epoch: 1, SetHash: setHash([]string{"b"})}
	tr.alive("b", "b:1", b, t0)
	v, _, _ := tr.compute()
	if v.Epoch != 41 || len(v.Members) != 2 {
		t.Fatalf("view after b joined: epoch %d, %d members; want 41, 2", v.Epoch, len(v.Members))
	}
}
