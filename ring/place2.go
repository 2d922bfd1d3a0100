package ring

import (
	"cmp"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Placement version 2: bounded-load consistent hashing like version 1, with
// the ring built once and walked directly.
//
// Every member has VirtualNodes points on a 64-bit ring: point v of the
// member whose ID hashes (xxhash64) to h sits at mix64(h + (v+1)*golden),
// so no string is formatted and each member is hashed once; the points are
// radix-sorted. Partition p sits at mix64(p + partitionSeed) and its natural
// owner is the member of the first point clockwise (a binary search). Members
// over capacity(P, N, Load) keep their closest partitions and the rest spill
// clockwise (place2). Backups walk on from the same place with the four
// passes of version 1 (placeBackups), but lazily: a pass stops at the first
// member it may take, and a pass that cannot take anyone is skipped from
// counters instead of walking the whole ring (placeBackups2). The cost is
// O(NV + (P + P*B) log(NV)) plus the spill walks, short except when caps or
// zones bind everywhere.

// golden is 2^64 divided by the golden ratio, the step between a member's
// points before mixing.
const golden = 0x9e3779b97f4a7c15

// partitionSeed separates partition points from member points.
const partitionSeed = 0x6a09e667f3bcc909

// mix64 is the finalizer of splitmix64: a bijection of uint64 whose output
// bits each depend on every input bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// partitionPoint2 is where partition p sits on the version 2 ring.
func partitionPoint2(p int) uint64 { return mix64(uint64(p) + partitionSeed) }

// buildRing2 returns the points of members (sorted by ID) on the version 2
// ring, sorted by hash and then member index, so that equal hashes (all but
// impossible) still sort the same way on every node.
func buildRing2(members []Member, vnodes int) []point {
	pts := make([]point, 0, len(members)*vnodes)
	for i, m := range members {
		h := xxhash.Sum64String(m.ID)
		for v := range vnodes {
			pts = append(pts, point{hash: mix64(h + uint64(v+1)*golden), member: int32(i)})
		}
	}
	return sortPoints(pts)
}

// sortPoints sorts pts by hash and, for equal hashes, keeps their order (a
// stable sort). It returns the sorted slice, which may be pts or a new one.
// A comparison sort of a 100,000-point ring spends most of New's time; this
// distributes the points into buckets by their top bits (one counting pass
// and one stable scatter; the hashes are uniform, so a bucket holds about 4
// points) and then sorts each bucket by insertion, or with a stable
// comparison sort when a bucket is large.
func sortPoints(pts []point) []point {
	if len(pts) < 2 {
		return pts
	}
	width := min(max(bits.Len(uint(len(pts)))-2, 1), 22) // bucket index bits
	shift := 64 - width
	count := make([]int, 1<<width+1)
	for _, pt := range pts {
		count[pt.hash>>shift+1]++
	}
	for d := 1; d < len(count); d++ {
		count[d] += count[d-1]
	}
	dst := make([]point, len(pts))
	next := slices.Clone(count[:len(count)-1])
	for _, pt := range pts {
		d := pt.hash >> shift
		dst[next[d]] = pt
		next[d]++
	}
	for d := range len(count) - 1 {
		bucket := dst[count[d]:count[d+1]]
		if len(bucket) > 32 {
			slices.SortStableFunc(bucket, func(a, b point) int { return cmp.Compare(a.hash, b.hash) })
			continue
		}
		for i := 1; i < len(bucket); i++ {
			for j := i; j > 0 && bucket[j-1].hash > bucket[j].hash; j-- {
				bucket[j-1], bucket[j] = bucket[j], bucket[j-1]
			}
		}
	}
	return dst
}

// place2 computes owners and backups with placement version 2. members must
// be sorted by ID, distinct and no more than partitions; cfg must be valid
// with defaults filled in.
//
// Owners are placed in two phases. First every partition goes to its
// natural owner, the member of the first point clockwise of its own. A
// member with more than capacity(P, N, Load) natural partitions keeps those
// closest (counter-clockwise) to its points, and the rest spill: in
// increasing order, each goes to the first member clockwise that is under
// the cap. A partition is never displaced by a spilled one, so a joining
// member, which takes partitions far from their owners' points (those most
// likely to have spilled), seldom sets off a chain of moves between others.
func place2(cfg Config, members []Member) (owners []int, backups [][]int) {
	n, parts := len(members), cfg.Partitions
	ring := buildRing2(members, cfg.VirtualNodes)
	starts := make([]int32, parts) // ring index where partition p's walk starts
	dist := make([]uint64, parts)  // clockwise distance from p to its natural owner's point

	owners = make([]int, parts)
	loads := make([]int, n)
	for p := range owners {
		key := partitionPoint2(p)
		i, _ := slices.BinarySearchFunc(ring, key, func(pt point, k uint64) int { return cmp.Compare(pt.hash, k) })
		if i == len(ring) {
			i = 0
		}
		starts[p] = int32(i)
		dist[p] = ring[i].hash - key // wraps around zero as it should
		owners[p] = int(ring[i].member)
		loads[owners[p]]++
	}

	// Group the partitions by natural owner (a counting sort), then cut
	// each member's group at the cap, closest first.
	limit := capacity(parts, n, cfg.Load)
	first, byOwner := groupByOwner(owners, n, parts)
	var spill []int
	for m, l := range loads {
		if l <= limit {
			continue
		}
		mine := byOwner[first[m]:first[m+1]]
		slices.SortFunc(mine, func(a, b int) int { return cmp.Or(cmp.Compare(dist[a], dist[b]), cmp.Compare(a, b)) })
		spill = append(spill, mine[limit:]...)
		loads[m] = limit
	}
	slices.Sort(spill)
	for _, p := range spill {
		// capacity(P, N, Load)*N >= P: some member has room, and every
		// member has a point, so the walk ends within one lap.
		i := int(starts[p])
		for loads[ring[i].member] >= limit {
			if i++; i == len(ring) {
				i = 0
			}
		}
		m := int(ring[i].member)
		loads[m]++
		owners[p] = m
	}
	return owners, placeBackups2(members, ring, starts, owners, cfg.Backups, func(total int) []int {
		return uniformCaps(n, capacity(total, n, cfg.Load))
	})
}

// uniformCaps returns n caps of c.
func uniformCaps(n, c int) []int {
	caps := make([]int, n)
	for m := range caps {
		caps[m] = c
	}
	return caps
}

// placeBackups2 chooses min(b, N-1) backups per partition with the passes
// of placeBackups (new zone with room, new zone, room, anyone), walking the
// ring from starts[p]. capsOf(P*min(b, N-1)) gives each member's backup cap
// ("room" is a member under its own cap). Within a pass the conditions only tighten, so a member
// passed over stays passed over and each pass resumes where it stopped; a
// pass runs only while counters say a member qualifies, so every walk ends
// on a member it takes, within one lap.
func placeBackups2(members []Member, ring []point, starts []int32, owners []int, b int, capsOf func(total int) []int) [][]int {
	n, parts := len(members), len(owners)
	out := make([][]int, parts)
	b = min(b, n-1)
	if b <= 0 {
		return out
	}

	zoneOf, nzones := zoneIndex(members)

	caps := capsOf(parts * b)
	loads := make([]int, n)
	roomIn := make([]int, nzones) // members of each zone under the backup cap
	for _, z := range zoneOf {
		roomIn[z]++
	}
	room := n               // members under the backup cap
	taken := make([]int, n) // taken[m] == gen: m is this partition's owner or a backup
	zoneUsed := make([]int, nzones)
	chosen := make([]int, 0, b+1) // this partition's owner and backups so far
	flat := make([]int, 0, parts*b)

	for p, owner := range owners {
		gen := p + 1
		chosen = append(chosen[:0], owner)
		taken[owner] = gen
		zoneUsed[zoneOf[owner]] = gen
		usedZones := 1
		roomUsed := roomIn[zoneOf[owner]] // members with room in used zones

		// qualifies reports whether some member not yet taken satisfies
		// pass; ok reports whether m does.
		qualifies := func(pass int) bool {
			switch pass {
			case 0:
				return room-roomUsed > 0
			case 1:
				return usedZones < nzones
			case 2:
				takenRoom := 0
				for _, m := range chosen {
					if loads[m] < caps[m] {
						takenRoom++
					}
				}
				return room-takenRoom > 0
			default:
				return n > len(chosen)
			}
		}
		ok := func(pass, m int) bool {
			if taken[m] == gen {
				return false
			}
			switch pass {
			case 0:
				return zoneUsed[zoneOf[m]] != gen && loads[m] < caps[m]
			case 1:
				return zoneUsed[zoneOf[m]] != gen
			case 2:
				return loads[m] < caps[m]
			default:
				return true
			}
		}

		first := len(flat)
		for pass := 0; pass < 4 && len(flat)-first < b; pass++ {
			i := int(starts[p])
			for len(flat)-first < b && qualifies(pass) {
				for !ok(pass, int(ring[i].member)) {
					if i++; i == len(ring) {
						i = 0
					}
				}
				m := int(ring[i].member)
				z := zoneOf[m]
				taken[m] = gen
				chosen = append(chosen, m)
				if zoneUsed[z] != gen {
					zoneUsed[z] = gen
					usedZones++
					roomUsed += roomIn[z]
				}
				if loads[m]++; loads[m] == caps[m] {
					room--
					roomIn[z]--
					roomUsed-- // z is used now
				}
				flat = append(flat, m)
			}
		}
		out[p] = flat[first:len(flat):len(flat)]
	}
	return out
}

// groupByOwner sorts the partitions by natural owner (a counting sort):
// member m's partitions are byOwner[first[m]:first[m+1]], in the order of
// owners.
func groupByOwner(owners []int, n, parts int) (first, byOwner []int) {
	first = make([]int, n+1)
	for _, o := range owners {
		first[o+1]++
	}
	for m := range n {
		first[m+1] += first[m]
	}
	byOwner = make([]int, parts)
	next := slices.Clone(first[:n])
	for p, o := range owners {
		byOwner[next[o]] = p
		next[o]++
	}
	return first, byOwner
}
