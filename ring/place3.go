package ring

import (
	"cmp"
	"math"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Placement version 3: bounded-load consistent hashing like version 2, with
// three changes that each cut the partitions moved between old members on a
// join or leave (docs/rebalancing.md, section 1c, has the measurements):
//
//   - Partitions sit at evenly spaced points, p*floor((2^64-1)/P) +
//     partitionSeed, instead of hashed ones: the count of partitions in a
//     member's arcs then varies less than a Poisson count does, so fewer
//     members have more natural partitions than their cap. Members' points
//     are version 2's (VirtualNodes each).
//   - Each member has its own cap, max(ceil(P/N), floor(x - u)) with
//     x = Load*P/N and u in [0, 1) drawn from the member's ID (memberCaps):
//     never above version 2's cap floor(x), but when x crosses an integer
//     the members' caps step down (or up) at different N rather than all at
//     the same join, when every member at the cap would shed a partition at
//     once (version 2 moves up to 17.5x the ideal at such joins).
//   - Owners are the partition-optimal stable assignment under those caps
//     (place3): every partition proposes to the members in the clockwise
//     order of their first point after its own; a member keeps the cap
//     proposals that are closest (clockwise distance from the partition's
//     point to the member's point, then lower partition index) and rejects
//     the rest, which propose on. The result does not depend on the order
//     in which proposals are made.
//
// Backups are chosen as in version 2 (placeBackups2), under per-member
// backup caps drawn the same way.

// capSeed separates a member's cap draw from its ring points.
const capSeed = 0xbb67ae8584caa73b

// partitionPoint3 is where partition p of parts sits on the version 3 ring:
// evenly spaced, starting at partitionSeed.
func partitionPoint3(p, parts int) uint64 {
	return uint64(p)*(math.MaxUint64/uint64(parts)) + partitionSeed
}

// memberCaps returns each member's cap for total slots (P for owners, P*B
// for backups) among the members under load factor load:
// max(ceil(total/N), floor(x - u)) with x = load*total/N, the bound of
// capacity, and u = the top 53 bits of mix64(xxhash64(ID) ^ capSeed) over
// 2^53. It is computed in integers from floor(x) and the fraction of x, so
// that every platform gets the same caps.
func memberCaps(members []Member, total int, load float64) []int {
	n := len(members)
	need := (total + n - 1) / n
	x := load*float64(total)/float64(n) + 1e-9 // as in capacity
	whole := math.Floor(x)
	frac := uint64((x - whole) * (1 << 53)) // exact: x - whole is in [0, 1)
	bound := int(whole)
	caps := make([]int, n)
	for m, mb := range members {
		u := mix64(xxhash.Sum64String(mb.ID)^capSeed) >> 11 // in [0, 2^53)
		c := bound
		if u > frac { // u > frac(x): floor(x - u) = floor(x) - 1
			c--
		}
		caps[m] = max(need, c)
	}
	return caps
}

// place3 computes owners and backups with placement version 3. members must
// be sorted by ID, distinct and no more than partitions; cfg must be valid
// with defaults filled in.
func place3(cfg Config, members []Member) (owners []int, backups [][]int) {
	n, parts := len(members), cfg.Partitions
	ring := buildRing2(members, cfg.VirtualNodes)
	caps := memberCaps(members, parts, cfg.Load)
	keys := make([]uint64, parts)  // partition p's point
	starts := make([]int32, parts) // ring index of p's first point clockwise
	pos := make([]int32, parts)    // ring index where p is held or last proposed
	dist := make([]uint64, parts)  // clockwise distance from keys[p] to ring[pos[p]]
	owners = make([]int, parts)
	loads := make([]int, n)
	for p := range parts {
		key := partitionPoint3(p, parts)
		i, _ := slices.BinarySearchFunc(ring, key, func(pt point, k uint64) int { return cmp.Compare(pt.hash, k) })
		if i == len(ring) {
			i = 0
		}
		keys[p], starts[p], pos[p] = key, int32(i), int32(i)
		dist[p] = ring[i].hash - key // wraps around zero as it should
		owners[p] = int(ring[i].member)
		loads[owners[p]]++
	}

	// First round: every member keeps its closest first proposals, up to
	// its cap. held[m] lists m's partitions; once m is at its cap it is a
	// heap whose root is the partition m ranks lowest.
	worse := func(a, b int) bool { return dist[a] > dist[b] || dist[a] == dist[b] && a > b }
	first, byOwner := groupByOwner(owners, n, parts)
	held := make([][]int, n)
	var free []int
	for m := range n {
		mine := byOwner[first[m]:first[m+1]:first[m+1]] // appending copies
		if len(mine) >= caps[m] {
			slices.SortFunc(mine, func(a, b int) int { return cmp.Or(cmp.Compare(dist[a], dist[b]), cmp.Compare(a, b)) })
			free = append(free, mine[caps[m]:]...)
			mine = mine[:caps[m]:caps[m]]
			heapify(mine, worse)
			loads[m] = caps[m]
		}
		held[m] = mine
	}

	// Rejected partitions propose on, clockwise. A member under its cap
	// accepts; a member at its cap accepts a proposal it ranks above its
	// lowest-ranked partition, which is rejected in turn. The sum of the
	// caps is at least P, so no partition is rejected by every member and
	// each walk stays within one lap (the distances do not wrap).
	for len(free) > 0 {
		p := free[len(free)-1]
		free = free[:len(free)-1]
		i := int(pos[p])
		for {
			if i++; i == len(ring) {
				i = 0
			}
			m := int(ring[i].member)
			d := ring[i].hash - keys[p]
			if loads[m] < caps[m] {
				pos[p], dist[p], owners[p] = int32(i), d, m
				held[m] = append(held[m], p)
				if loads[m]++; loads[m] == caps[m] {
					heapify(held[m], worse)
				}
				break
			}
			h := held[m]
			if w := h[0]; dist[w] > d || dist[w] == d && w > p {
				pos[p], dist[p], owners[p] = int32(i), d, m
				h[0] = p
				siftDown(h, 0, worse)
				free = append(free, w)
				break
			}
		}
	}
	return owners, placeBackups2(members, ring, starts, owners, cfg.Backups, func(total int) []int {
		return memberCaps(members, total, cfg.Load)
	})
}

// heapify orders h as a heap whose root is the element x for which
// worse(x, y) holds against every other y.
func heapify(h []int, worse func(a, b int) bool) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i, worse)
	}
}

// siftDown restores the heap order of h below index i.
func siftDown(h []int, i int, worse func(a, b int) bool) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if r := c + 1; r < len(h) && worse(h[r], h[c]) {
			c = r
		}
		if !worse(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}
