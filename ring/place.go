package ring

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
)

// xxHasher adapts xxhash to consistent.Hasher.
type xxHasher struct{}

// Sum64 returns the xxhash64 of b.
func (xxHasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

// ringName is a member as consistent sees it: its ID followed by a NUL byte.
// consistent names virtual node i of member m by m.String()+itoa(i); with bare
// IDs member "a" point 10 and member "a1" point 0 would both be "a10". The NUL
// makes the split unambiguous: the digits after the last NUL are the point.
type ringName string

// String returns the name consistent hashes.
func (n ringName) String() string { return string(n) }

// nameOf returns the ring name of the member with the given ID.
func nameOf(id string) string { return id + "\x00" }

// placeOwners assigns an owner (an index into ids) to each partition with
// consistent's bounded-load hashing. ids must be sorted, distinct, non-empty
// and no more than partitions; placeOwners turns a panic inside consistent
// into ErrPlacement.
func placeOwners(ids []string, partitions, vnodes int, load float64) (owners []int, err error) {
	defer func() {
		if r := recover(); r != nil {
			owners, err = nil, fmt.Errorf("%w: consistent panicked: %v", ErrPlacement, r)
		}
	}()
	n := len(ids)
	if n == 0 {
		return nil, ErrNoMembers
	}
	q := partitions / n
	if q == 0 {
		return nil, fmt.Errorf("%w: %d members, %d partitions", ErrTooManyMembers, n, partitions)
	}
	// consistent caps each member at ceil(floor(P/N)*Load), which can exceed
	// Load*P/N (P=271, N=3: ceil(90*1.25)=113 > 1.25*90.33). Hand it the load
	// factor that makes its cap exactly our capacity c: ceil(q*(c-0.5)/q) = c.
	c := capacity(partitions, n, load)
	cload := (float64(c) - 0.5) / float64(q)

	members := make([]consistent.Member, n)
	index := make(map[string]int, n)
	for i, id := range ids {
		name := nameOf(id)
		members[i] = ringName(name)
		index[name] = i
	}
	ch := consistent.New(members, consistent.Config{
		Hasher:            xxHasher{},
		PartitionCount:    partitions,
		ReplicationFactor: vnodes,
		Load:              cload,
	})

	owners = make([]int, partitions)
	loads := make([]int, n)
	for p := range owners {
		m := ch.GetPartitionOwner(p)
		if m == nil {
			return nil, fmt.Errorf("%w: partition %d has no owner", ErrPlacement, p)
		}
		i, ok := index[m.String()]
		if !ok {
			return nil, fmt.Errorf("%w: partition %d owned by unknown member %q", ErrPlacement, p, m.String())
		}
		owners[p] = i
		if loads[i]++; loads[i] > c {
			return nil, fmt.Errorf("%w: member %q owns more than %d partitions", ErrPlacement, ids[i], c)
		}
	}
	return owners, nil
}

// point is one virtual node on the ring used to choose backups.
type point struct {
	hash   uint64
	member int32
}

// buildRing returns the virtual nodes of members sorted by hash, with the
// same point names and hash as consistent's ring.
func buildRing(members []Member, vnodes int) []point {
	pts := make([]point, 0, len(members)*vnodes)
	buf := make([]byte, 0, 64)
	for i, m := range members {
		for v := range vnodes {
			buf = append(buf[:0], m.ID...)
			buf = append(buf, 0)
			buf = strconv.AppendInt(buf, int64(v), 10)
			pts = append(pts, point{hash: xxhash.Sum64(buf), member: int32(i)})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.member, b.member))
	})
	return pts
}

// partitionPoint is where partition p sits on the ring, as in consistent.
func partitionPoint(p int) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(p))
	return xxhash.Sum64(b[:])
}

// placeBackups chooses min(b, N-1) backups for every partition. For
// partition p it walks the ring clockwise from p's point and takes members
// other than the owner in the order first met, in four passes that relax one
// preference at a time:
//
//  1. a zone not yet used by the owner or an earlier backup, and a member
//     under its backup capacity;
//  2. a new zone, over capacity if need be;
//  3. a member under capacity, any zone;
//  4. any member.
//
// Capacity is capacity(P*b, N, load) backup slots per member, counted over
// partitions in increasing order. The result is deterministic for sorted
// members. All backup lists share one backing array, each capped at its length.
func placeBackups(members []Member, owners []int, b, vnodes int, load float64) [][]int {
	n, parts := len(members), len(owners)
	out := make([][]int, parts)
	b = min(b, n-1)
	if b <= 0 {
		return out
	}
	ring := buildRing(members, vnodes)

	zoneOf, nzones := zoneIndex(members)

	limit := capacity(parts*b, n, load)
	loads := make([]int, n)
	seen := make([]int, n)  // seen[m] == gen: m already in this partition's walk
	taken := make([]int, n) // taken[m] == gen: m already chosen for this partition
	zoneUsed := make([]int, nzones)
	walk := make([]int, 0, n)
	flat := make([]int, 0, parts*b)

	for p, owner := range owners {
		gen := p + 1
		seen[owner], taken[owner], zoneUsed[zoneOf[owner]] = gen, gen, gen

		walk = walk[:0]
		key := partitionPoint(p)
		start, _ := slices.BinarySearchFunc(ring, key, func(pt point, k uint64) int { return cmp.Compare(pt.hash, k) })
		for k := 0; k < len(ring) && len(walk) < n-1; k++ {
			m := int(ring[(start+k)%len(ring)].member)
			if seen[m] != gen {
				seen[m] = gen
				walk = append(walk, m)
			}
		}

		first := len(flat)
		for pass := 0; pass < 4 && len(flat)-first < b; pass++ {
			for _, m := range walk {
				if len(flat)-first == b {
					break
				}
				if taken[m] == gen {
					continue
				}
				newZone := zoneUsed[zoneOf[m]] != gen
				room := loads[m] < limit
				var ok bool
				switch pass {
				case 0:
					ok = newZone && room
				case 1:
					ok = newZone
				case 2:
					ok = room
				default:
					ok = true
				}
				if ok {
					taken[m], zoneUsed[zoneOf[m]] = gen, gen
					loads[m]++
					flat = append(flat, m)
				}
			}
		}
		out[p] = flat[first:len(flat):len(flat)]
	}
	return out
}

// zoneIndex numbers the members' zones in order of first appearance:
// zoneOf[i] is member i's zone number, nzones how many there are.
func zoneIndex(members []Member) (zoneOf []int, nzones int) {
	zoneOf = make([]int, len(members))
	zones := map[string]int{}
	for i, m := range members {
		z, ok := zones[m.Zone]
		if !ok {
			z = len(zones)
			zones[m.Zone] = z
		}
		zoneOf[i] = z
	}
	return zoneOf, len(zones)
}
