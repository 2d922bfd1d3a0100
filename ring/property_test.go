package ring

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// genMembers draws 1..max members with distinct IDs over a tiny alphabet
// (with NUL and digits, to provoke ambiguous point names), a few zones and
// addresses.
func genMembers(max int) *rapid.Generator[[]Member] {
	member := rapid.Custom(func(t *rapid.T) Member {
		return Member{
			ID:   rapid.StringOfN(rapid.SampledFrom([]rune("ab1\x00é")), 1, 4, -1).Draw(t, "id"),
			Addr: rapid.SampledFrom([]string{"", "127.0.0.1:7700", "[::1]:1"}).Draw(t, "addr"),
			Zone: rapid.SampledFrom([]string{"", "z1", "z2", "z3"}).Draw(t, "zone"),
		}
	})
	return rapid.SliceOfNDistinct(member, 1, max, func(m Member) string { return m.ID })
}

// genConfig draws a valid config with at least n partitions.
func genConfig(t *rapid.T, n int) Config {
	return Config{
		Partitions:   rapid.IntRange(n, 300).Draw(t, "partitions"),
		Backups:      rapid.IntRange(0, 4).Draw(t, "backups"),
		VirtualNodes: rapid.SampledFrom([]int{0, 2, 3, 20, 50}).Draw(t, "vnodes"),
		Load:         rapid.SampledFrom([]float64{0, 1.01, 1.1, 1.25, 2}).Draw(t, "load"),
		Placement:    rapid.SampledFrom([]int{0, PlacementV1, PlacementV2, PlacementV3}).Draw(t, "placement"),
	}
}

// sameTable fails unless a and b have the same content.
func sameTable(t *rapid.T, a, b *Table) {
	t.Helper()
	if a.Hash() != b.Hash() {
		t.Fatalf("hash %x != %x", a.Hash(), b.Hash())
	}
	if !slices.Equal(a.Members(), b.Members()) || !slices.Equal(a.Owners(), b.Owners()) {
		t.Fatalf("members or owners differ")
	}
	for p := range a.Partitions() {
		if !slices.Equal(a.BackupIndexes(p), b.BackupIndexes(p)) {
			t.Fatalf("partition %d: backups %v != %v", p, a.BackupIndexes(p), b.BackupIndexes(p))
		}
	}
}

// TestPropertyNew: New succeeds on valid input, keeps the invariants and the
// load bound, and does not depend on the order of members.
func TestPropertyNew(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ms := genMembers(12).Draw(t, "members")
		cfg := genConfig(t, len(ms))
		tb, err := New(cfg, 1, ms)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		checkInvariants(t, tb)
		hi, _ := tb.Load()
		if limit := capacity(cfg.Partitions, len(ms), tb.Config().Load); hi > float64(limit) {
			t.Fatalf("max load %v > capacity %d", hi, limit)
		}
		perm := rapid.Permutation(ms).Draw(t, "permutation")
		sameTable(t, tb, mustNew(t, cfg, 2, perm))
	})
}

// TestPropertyFromAssignment: a table sent as (members, owners, backups), in
// any member order, is rebuilt with the same content and hash.
func TestPropertyFromAssignment(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ms := genMembers(10).Draw(t, "members")
		cfg := genConfig(t, len(ms))
		tb := mustNew(t, cfg, 3, ms)

		backups := make([][]int, tb.Partitions())
		for p := range backups {
			backups[p] = tb.BackupIndexes(p)
		}
		got, err := FromAssignment(cfg, 3, tb.Members(), tb.Owners(), backups)
		if err != nil {
			t.Fatalf("FromAssignment: %v", err)
		}
		sameTable(t, tb, got)

		// Shuffle the members and renumber the indexes to match.
		sorted := tb.Members()
		order := rapid.Permutation(seq(len(sorted))).Draw(t, "order") // order[i]: sorted index sent at i
		sent := make([]Member, len(sorted))
		at := make([]int, len(sorted)) // at[sorted index] = sent index
		for i, j := range order {
			sent[i], at[j] = sorted[j], i
		}
		owners := tb.Owners()
		for p := range owners {
			owners[p] = at[owners[p]]
		}
		for p := range backups {
			bs := make([]int, len(backups[p]))
			for i, b := range backups[p] {
				bs[i] = at[b]
			}
			backups[p] = bs
		}
		got, err = FromAssignment(cfg, 3, sent, owners, backups)
		if err != nil {
			t.Fatalf("FromAssignment, shuffled: %v", err)
		}
		sameTable(t, tb, got)
	})
}

// TestPropertyDiff: applying Diff(old, new) to old's owners and backups gives
// new's, and every move changes something.
func TestPropertyDiff(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pool := genMembers(10).Draw(t, "pool")
		pick := func(label string) []Member {
			var out []Member
			for _, m := range pool {
				if rapid.Bool().Draw(t, label) {
					out = append(out, m)
				}
			}
			if len(out) == 0 {
				out = pool[:1]
			}
			return out
		}
		before, after := pick("before"), pick("after")
		cfg := genConfig(t, len(pool))
		old, new := mustNew(t, cfg, 1, before), mustNew(t, cfg, 2, after)

		owners := make([]string, old.Partitions())
		backups := make([][]string, old.Partitions())
		for p := range owners {
			owners[p] = old.Owner(p).ID
			backups[p] = ids(old, old.BackupIndexes(p))
		}
		last := -1
		for _, m := range Diff(old, new) {
			if m.Partition <= last {
				t.Fatalf("moves not sorted: %d after %d", m.Partition, last)
			}
			last = m.Partition
			if m.From != owners[m.Partition] || !slices.Equal(m.BackupsFrom, backups[m.Partition]) {
				t.Fatalf("move %+v does not start from the old table", m)
			}
			if m.From == m.To && slices.Equal(m.BackupsFrom, m.BackupsTo) {
				t.Fatalf("move %+v changes nothing", m)
			}
			owners[m.Partition], backups[m.Partition] = m.To, m.BackupsTo
		}
		for p := range owners {
			if owners[p] != new.Owner(p).ID || !slices.Equal(backups[p], ids(new, new.BackupIndexes(p))) {
				t.Fatalf("partition %d: diff gives %q %v, new table %q %v", p, owners[p], backups[p], new.Owner(p).ID, new.BackupsOf(p))
			}
		}
	})
}

// TestPropertyNeverPanics: near the edges (few partitions, two virtual
// nodes, a load barely above 1, as many members as partitions or more,
// duplicate or empty IDs) New gives a valid table or a documented error,
// never a panic. Config.Validate's own cases are in TestConfigValidate.
func TestPropertyNeverPanics(t *testing.T) {
	known := []error{ErrNoMembers, ErrInvalidMember, ErrDuplicateMember, ErrTooManyMembers}
	rapid.Check(t, func(t *rapid.T) {
		cfg := Config{
			Partitions:   rapid.IntRange(1, 40).Draw(t, "partitions"),
			Backups:      rapid.IntRange(0, 6).Draw(t, "backups"),
			VirtualNodes: rapid.SampledFrom([]int{0, 2, 3}).Draw(t, "vnodes"),
			Load:         rapid.SampledFrom([]float64{0, 1.0001, 1.01, 1.25, 3, MaxLoad}).Draw(t, "load"),
			Placement:    rapid.SampledFrom([]int{PlacementV1, PlacementV2, PlacementV3}).Draw(t, "placement"),
		}
		id := rapid.StringOfN(rapid.SampledFrom([]rune("a1\x00")), 1, 3, -1)
		ms := rapid.SliceOfNDistinct(rapid.Map(id, func(s string) Member { return Member{ID: s} }), 0, 45,
			func(m Member) string { return m.ID }).Draw(t, "members")
		if len(ms) > 0 && rapid.IntRange(0, 9).Draw(t, "corrupt") == 0 {
			if rapid.Bool().Draw(t, "empty") {
				ms[len(ms)-1].ID = ""
			} else {
				ms = append(ms, ms[0])
			}
		}
		tb, err := New(cfg, 0, ms)
		if err != nil {
			if !slices.ContainsFunc(known, func(e error) bool { return errors.Is(err, e) }) {
				t.Fatalf("New: unexpected error %v", err)
			}
			return
		}
		checkInvariants(t, tb)
	})
}

// seq returns 0, 1, ..., n-1.
func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// genScale draws a member count and a partition count with at least
// minPer partitions per member, as clusters are configured.
func genScale(t *rapid.T, maxMembers, minPer int) (n, partitions int) {
	n = rapid.IntRange(1, maxMembers).Draw(t, "members")
	partitions = rapid.IntRange(minPer*(n+1), max(minPer*(n+1), 64*n)).Draw(t, "partitions")
	return n, partitions
}

// genNamed returns n members with IDs drawn once per test case (a random
// prefix and index), so that runs differ in ring positions.
func genNamed(t *rapid.T, n int) []Member {
	prefix := rapid.StringMatching(`[a-z]{1,6}-`).Draw(t, "prefix")
	zones := rapid.IntRange(0, 4).Draw(t, "zones")
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{ID: fmt.Sprintf("%s%d", prefix, i)}
		if zones > 0 {
			ms[i].Zone = fmt.Sprintf("z%d", i%zones)
		}
	}
	return ms
}

// TestPropertyPlacement checks placement versions 2 and 3 on cluster-like
// sizes: the same table for any order of the members, max/mean <= Load
// (when ceil(P/N) allows it), backups distinct from the owner and from each
// other (checkInvariants), and in distinct zones when there are enough.
func TestPropertyPlacement(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n, partitions := genScale(t, 300, 4)
		version := rapid.SampledFrom([]int{PlacementV2, PlacementV3}).Draw(t, "placement")
		cfg := Config{Partitions: partitions, Backups: rapid.IntRange(0, 3).Draw(t, "backups"), Placement: version}
		ms := genNamed(t, n)
		tb := mustNew(t, cfg, 1, ms)
		checkInvariants(t, tb)
		sameTable(t, tb, mustNew(t, cfg, 1, rapid.Permutation(ms).Draw(t, "permutation")))

		hi, mean := tb.Load()
		if ceil := float64((partitions + n - 1) / n); hi/mean > DefaultLoad && hi > ceil {
			t.Fatalf("N=%d P=%d: max/mean %.3f", n, partitions, hi/mean)
		}
		zones := map[string]bool{}
		for _, m := range ms {
			zones[m.Zone] = true
		}
		for p := range partitions {
			zs := map[string]bool{tb.Owner(p).Zone: true}
			for _, b := range tb.BackupsOf(p) {
				zs[b.Zone] = true
			}
			if want := min(len(zones), 1+len(tb.BackupIndexes(p))); len(zs) != want {
				t.Fatalf("partition %d spans %d zones, want %d", p, len(zs), want)
			}
		}
	})
}

// TestPropertyMovesV2 bounds, for placement version 2 and at least 16
// partitions per member, the partitions that change owner when one member
// joins or leaves: the ideal is P/(N+1) on a join and P/N on a leave (at
// least the leaver's partitions move). Bounded loads move more between the
// other members, most when the cap floor(Load*P/N) steps by one and every
// member at the cap sheds a partition (or takes one back);
// TestRebalanceFigures and TestRebalanceAtScale check averages, this the
// worst single table: 6x the ideal plus 2 (measured worst over 1,500 random
// sizes: 5.4x at 16-24 partitions per member, 2.4x at 32-48, 1.6x at 64-96;
// docs/rebalancing.md).
func TestPropertyMovesV2(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n, partitions := genScale(t, 200, 16)
		cfg := Config{Partitions: partitions, Backups: 1, Placement: PlacementV2}
		ms := genNamed(t, n+1)
		before, after := mustNew(t, cfg, 1, ms[:n]), mustNew(t, cfg, 2, ms)
		joined := ms[n].ID
		moved, toNew := 0, 0
		for _, m := range Diff(before, after) {
			if m.OwnerChanged() {
				moved++
				if m.To == joined {
					toNew++
				}
			}
		}
		ideal := float64(partitions) / float64(n+1)
		if float64(moved) > 6*ideal+2 {
			t.Fatalf("join N=%d->%d P=%d: %d partitions change owner, ideal %.1f", n, n+1, partitions, moved, ideal)
		}
		if toNew == 0 || toNew != len(after.Owned(joined)) {
			t.Fatalf("join: the new member gains %d partitions, owns %d", toNew, len(after.Owned(joined)))
		}

		// The reverse: the member leaves again, and the old table returns.
		sameTable(t, before, mustNew(t, cfg, 1, ms[:n]))
		if n == 1 {
			return
		}
		gone := rapid.IntRange(0, n-1).Draw(t, "leaver")
		rest := append(slices.Clone(ms[:gone]), ms[gone+1:n]...)
		left := mustNew(t, cfg, 3, rest)
		owned := len(before.Owned(ms[gone].ID))
		moved = 0
		for _, m := range Diff(before, left) {
			if m.OwnerChanged() {
				moved++
			}
		}
		ideal = float64(partitions) / float64(n)
		if moved < owned || float64(moved) > 6*ideal+2 {
			t.Fatalf("leave N=%d->%d P=%d: %d partitions change owner, the leaver owned %d, ideal %.1f", n, n-1, partitions, moved, owned, ideal)
		}
	})
}

// TestPropertySortPoints checks sortPoints against a stable comparison sort,
// with hashes drawn from a few values (many ties, all in a few buckets) or
// from all of uint64.
func TestPropertySortPoints(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		hash := rapid.Uint64()
		if rapid.Bool().Draw(t, "ties") {
			hash = rapid.SampledFrom([]uint64{0, 1, 1 << 63, 1<<63 + 1, ^uint64(0)})
		}
		hashes := rapid.SliceOfN(hash, 0, 300).Draw(t, "hashes")
		pts := make([]point, len(hashes))
		for i, h := range hashes {
			pts[i] = point{hash: h, member: int32(i)}
		}
		want := slices.Clone(pts)
		slices.SortStableFunc(want, func(a, b point) int { return cmp.Compare(a.hash, b.hash) })
		if got := sortPoints(pts); !slices.Equal(got, want) {
			t.Fatalf("sortPoints(%v) = %v, want %v", hashes, got, want)
		}
	})
}
