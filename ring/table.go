package ring

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Member is a cluster member as the table sees it.
type Member struct {
	// ID names the member uniquely and decides its place on the ring. It
	// must not be empty.
	ID string
	// Addr is the member's gRPC address, carried for clients and peers; it
	// does not affect placement.
	Addr string
	// Zone is the member's failure domain (rack, availability zone). Backups
	// prefer zones other than their owner's and each other's. Empty is a
	// zone like any other: when no member has a zone, zones play no part.
	Zone string
}

// PartitionOf returns the partition of key among partitions: xxhash64(key)
// modulo partitions. It is THE key hash of the cluster, used by clients and
// nodes alike. It panics if partitions <= 0.
func PartitionOf(key []byte, partitions int) int {
	if partitions <= 0 {
		panic("ring: PartitionOf with partitions <= 0")
	}
	return int(xxhash.Sum64(key) % uint64(partitions))
}

// Table is an immutable snapshot of the partition table: for every partition,
// an owner and an ordered list of backups, as indexes into the members
// sorted by ID. A Table is safe for concurrent use; nothing it returns aliases
// mutable state except where a method says "do not modify".
//
// Methods taking a partition p panic if p is not in [0, Partitions()), like
// a slice index.
type Table struct {
	cfg     Config
	epoch   uint64
	hash    uint64
	members []Member // sorted by ID
	owners  []int    // owner index per partition
	backups [][]int  // backup indexes per partition; each slice capped at its length
}

// New computes the table of members under cfg with the placement version
// cfg.Placement. The result depends only on cfg and the set of members, not
// on their order: every node that sees the same members computes a
// byte-identical table. epoch is recorded as given; the cluster layer decides
// it, and it is not part of Hash.
//
// New returns an error wrapping ErrInvalidConfig, ErrNoMembers,
// ErrInvalidMember, ErrDuplicateMember, ErrTooManyMembers or ErrPlacement; it
// never panics.
func New(cfg Config, epoch uint64, members []Member) (t *Table, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	sorted, _, err := sortMembers(members, cfg.Partitions)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("%w: %v", ErrPlacement, r)
		}
	}()
	t = &Table{cfg: cfg, epoch: epoch, members: sorted}
	switch cfg.Placement {
	case PlacementV1:
		ids := make([]string, len(sorted))
		for i, m := range sorted {
			ids[i] = m.ID
		}
		if t.owners, err = placeOwners(ids, cfg.Partitions, cfg.VirtualNodes, cfg.Load); err != nil {
			return nil, err
		}
		t.backups = placeBackups(sorted, t.owners, cfg.Backups, cfg.VirtualNodes, cfg.Load)
	case PlacementV2:
		t.owners, t.backups = place2(cfg, sorted)
	default: // PlacementV3; Validate admits no other
		t.owners, t.backups = place3(cfg, sorted)
	}
	t.hash = t.computeHash()
	return t, nil
}

// FromAssignment rebuilds a table from its parts, as received over the wire
// by a client: owners[p] and backups[p] index into members. members need not
// be sorted (FromAssignment sorts them and renumbers the indexes); backups
// may be nil when no partition has backups. Every index is checked: an owner
// in range, at most cfg.Backups backups per partition, each in range,
// distinct and not the owner. The hash is recomputed, so it equals the
// sender's Hash exactly when the content is the same.
//
// FromAssignment returns an error wrapping ErrInvalidConfig, ErrNoMembers,
// ErrInvalidMember, ErrDuplicateMember, ErrTooManyMembers or
// ErrInvalidAssignment. It does not check balance.
func FromAssignment(cfg Config, epoch uint64, members []Member, owners []int, backups [][]int) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	sorted, rank, err := sortMembers(members, cfg.Partitions)
	if err != nil {
		return nil, err
	}
	n := len(sorted)
	if len(owners) != cfg.Partitions {
		return nil, fmt.Errorf("%w: %d owners for %d partitions", ErrInvalidAssignment, len(owners), cfg.Partitions)
	}
	if backups != nil && len(backups) != cfg.Partitions {
		return nil, fmt.Errorf("%w: %d backup lists for %d partitions", ErrInvalidAssignment, len(backups), cfg.Partitions)
	}
	t := &Table{
		cfg:     cfg,
		epoch:   epoch,
		members: sorted,
		owners:  make([]int, cfg.Partitions),
		backups: make([][]int, cfg.Partitions),
	}
	for p, o := range owners {
		if o < 0 || o >= n {
			return nil, fmt.Errorf("%w: partition %d: owner index %d not in [0, %d)", ErrInvalidAssignment, p, o, n)
		}
		t.owners[p] = rank[o]
	}
	total := 0
	for _, bs := range backups {
		total += len(bs)
	}
	flat := make([]int, 0, total)
	for p, bs := range backups {
		if len(bs) > cfg.Backups {
			return nil, fmt.Errorf("%w: partition %d: %d backups, config allows %d", ErrInvalidAssignment, p, len(bs), cfg.Backups)
		}
		first := len(flat)
		for _, b := range bs {
			if b < 0 || b >= n {
				return nil, fmt.Errorf("%w: partition %d: backup index %d not in [0, %d)", ErrInvalidAssignment, p, b, n)
			}
			b = rank[b]
			if b == t.owners[p] {
				return nil, fmt.Errorf("%w: partition %d: backup %q is the owner", ErrInvalidAssignment, p, sorted[b].ID)
			}
			if slices.Contains(flat[first:], b) {
				return nil, fmt.Errorf("%w: partition %d: backup %q repeated", ErrInvalidAssignment, p, sorted[b].ID)
			}
			flat = append(flat, b)
		}
		t.backups[p] = flat[first:len(flat):len(flat)]
	}
	t.hash = t.computeHash()
	return t, nil
}

// sortMembers returns a copy of members sorted by ID and rank, where
// rank[i] is the sorted position of members[i]. It rejects an empty list,
// empty IDs, duplicate IDs and more members than partitions.
func sortMembers(members []Member, partitions int) (sorted []Member, rank []int, err error) {
	n := len(members)
	if n == 0 {
		return nil, nil, ErrNoMembers
	}
	order := make([]int, n)
	for i, m := range members {
		if m.ID == "" {
			return nil, nil, fmt.Errorf("%w: member %d has an empty ID", ErrInvalidMember, i)
		}
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(members[a].ID, members[b].ID) })
	sorted = make([]Member, n)
	rank = make([]int, n)
	for pos, i := range order {
		sorted[pos] = members[i]
		rank[i] = pos
		if pos > 0 && sorted[pos-1].ID == sorted[pos].ID {
			return nil, nil, fmt.Errorf("%w: %q", ErrDuplicateMember, sorted[pos].ID)
		}
	}
	if n > partitions {
		return nil, nil, fmt.Errorf("%w: %d members, %d partitions; every member must own one: raise --partitions (Config.Partitions, fixed for a cluster's life, docs/rebalancing.md)", ErrTooManyMembers, n, partitions)
	}
	return sorted, rank, nil
}

// hashTag versions the content hash encoding.
const hashTag = "ns.ring.v1"

// computeHash hashes the partition count, the configured backup count, the
// members (ID, Addr, Zone), the owners and the backups, in a length-prefixed
// little-endian encoding. The epoch, VirtualNodes, Load, Placement and
// KeyHash are left out: two tables with the same content have the same hash
// however they were made. Clients rebuild tables from the wire
// (FromAssignment), which carries none of them; with the placement version in the hash, every client
// would reject the tables of a cluster whose version it did not guess.
func (t *Table) computeHash() uint64 {
	buf := make([]byte, 0, 64+len(t.members)*48+len(t.owners)*8*(2+t.cfg.Backups))
	u := func(v uint64) { buf = binary.LittleEndian.AppendUint64(buf, v) }
	s := func(v string) { u(uint64(len(v))); buf = append(buf, v...) }
	s(hashTag)
	u(uint64(t.cfg.Partitions))
	u(uint64(t.cfg.Backups))
	u(uint64(len(t.members)))
	for _, m := range t.members {
		s(m.ID)
		s(m.Addr)
		s(m.Zone)
	}
	for _, o := range t.owners {
		u(uint64(o))
	}
	for _, bs := range t.backups {
		u(uint64(len(bs)))
		for _, b := range bs {
			u(uint64(b))
		}
	}
	return xxhash.Sum64(buf)
}

// PartitionOf returns the partition of key: PartitionOf(key, t.Partitions()),
// or with Config.KeyHash KeyHashSlots SlotPartition(Slot(key), t.Partitions()).
func (t *Table) PartitionOf(key []byte) int {
	if t.cfg.KeyHash == KeyHashSlots {
		return SlotPartition(Slot(key), t.cfg.Partitions)
	}
	return PartitionOf(key, t.cfg.Partitions)
}

// Partitions returns the partition count P.
func (t *Table) Partitions() int { return t.cfg.Partitions }

// BackupCount returns the configured number of backups per partition. A
// partition has fewer when the table has fewer than BackupCount()+1 members.
func (t *Table) BackupCount() int { return t.cfg.Backups }

// Config returns the configuration of the table, defaults filled in.
func (t *Table) Config() Config { return t.cfg }

// Placement returns the placement version the table was computed with
// (Config.Placement, default filled in). For a table from FromAssignment it
// is the version of the config given, not checked against the assignment.
func (t *Table) Placement() int { return t.cfg.Placement }

// Epoch returns the epoch given when the table was made.
func (t *Table) Epoch() uint64 { return t.epoch }

// Hash returns the content hash: equal for two tables with the same
// partitions, backup count, members (ID, Addr, Zone), owners and backups,
// whatever their epochs.
func (t *Table) Hash() uint64 { return t.hash }

// Members returns a copy of the members, sorted by ID. Indexes returned by
// other methods point into this order.
func (t *Table) Members() []Member { return slices.Clone(t.members) }

// Member returns the member with the given ID.
func (t *Table) Member(id string) (Member, bool) {
	if i := t.MemberIndex(id); i >= 0 {
		return t.members[i], true
	}
	return Member{}, false
}

// MemberIndex returns the index of the member with the given ID in
// Members(), or -1 when there is none.
func (t *Table) MemberIndex(id string) int {
	i, ok := slices.BinarySearchFunc(t.members, id, func(m Member, id string) int { return cmp.Compare(m.ID, id) })
	if !ok {
		return -1
	}
	return i
}

// OwnerIndex returns the index in Members() of the owner of partition p.
func (t *Table) OwnerIndex(p int) int { return t.owners[p] }

// Owner returns the owner of partition p.
func (t *Table) Owner(p int) Member { return t.members[t.owners[p]] }

// BackupIndexes returns the indexes in Members() of the backups of partition
// p, first backup first. The slice is shared: do not modify it.
func (t *Table) BackupIndexes(p int) []int { return t.backups[p] }

// BackupsOf returns the backups of partition p, first backup first.
func (t *Table) BackupsOf(p int) []Member {
	bs := t.backups[p]
	if len(bs) == 0 {
		return nil
	}
	out := make([]Member, len(bs))
	for i, b := range bs {
		out[i] = t.members[b]
	}
	return out
}

// Owners returns a copy of the owner index of every partition.
func (t *Table) Owners() []int { return slices.Clone(t.owners) }

// Owned returns the partitions owned by the member with the given ID, in
// increasing order; nil when it owns none or is not a member.
func (t *Table) Owned(id string) []int {
	i := t.MemberIndex(id)
	if i < 0 {
		return nil
	}
	var out []int
	for p, o := range t.owners {
		if o == i {
			out = append(out, p)
		}
	}
	return out
}

// BackedUp returns the partitions the member with the given ID is a backup
// of, in increasing order; nil when there are none or it is not a member.
func (t *Table) BackedUp(id string) []int {
	i := t.MemberIndex(id)
	if i < 0 {
		return nil
	}
	var out []int
	for p, bs := range t.backups {
		if slices.Contains(bs, i) {
			out = append(out, p)
		}
	}
	return out
}

// WithEpoch returns a table with the same assignment (and Hash) and the
// given epoch. It shares t's immutable arrays.
func (t *Table) WithEpoch(epoch uint64) *Table {
	c := *t
	c.epoch = epoch
	return &c
}

// Load returns the most partitions owned by one member and the mean,
// Partitions()/len(Members()). Config.Load bounds max/mean whenever
// ceil(P/N) <= Load*P/N.
func (t *Table) Load() (max, mean float64) {
	counts := make([]int, len(t.members))
	top := 0
	for _, o := range t.owners {
		if counts[o]++; counts[o] > top {
			top = counts[o]
		}
	}
	return float64(top), float64(len(t.owners)) / float64(len(t.members))
}

// String returns a one-line summary of the table.
func (t *Table) String() string {
	hi, mean := t.Load()
	return fmt.Sprintf("ring.Table{epoch: %d, hash: %016x, partitions: %d, backups: %d, members: %d, load: %.0f/%.2f}",
		t.epoch, t.hash, t.cfg.Partitions, t.cfg.Backups, len(t.members), hi, mean)
}
