package ring

import (
	"fmt"
	"math"
)

// Defaults used by DefaultConfig and for zero Config fields that allow it.
const (
	// DefaultPartitions is the default partition count, a prime.
	DefaultPartitions = 271
	// DefaultVirtualNodes is the default number of points each member has on
	// the hash ring (consistent's ReplicationFactor). consistent's own default,
	// 20, moves up to 2x the ideal share on a join and leaves some members
	// with a third of the mean load; docs/rebalancing.md has the figures.
	DefaultVirtualNodes = 100
	// DefaultLoad is the default bound on max/mean owned partitions.
	DefaultLoad = 1.25

	// PlacementV1 is the placement of the first releases: bounded-load
	// consistent hashing by github.com/buraksezer/consistent. Its cost grows
	// as N squared: seconds for a few hundred members.
	PlacementV1 = 1
	// PlacementV2 is the same idea with the ring built once and walked
	// directly (place2.go): milliseconds for a thousand members.
	PlacementV2 = 2
	// PlacementV3 keeps v2's model and moves fewer partitions between old
	// members on a join or leave (place3.go): evenly spaced partitions,
	// per-member caps that step at different sizes, and owners as a stable
	// assignment. About v2's cost.
	PlacementV3 = 3
	// DefaultPlacement is the placement version of new clusters.
	DefaultPlacement = PlacementV2

	// KeyHashXX places a key by xxhash64(key) mod P (PartitionOf): the
	// default, and the only key hash of the first releases.
	KeyHashXX = 0
	// KeyHashSlots places a key by Redis Cluster's hash slot: partition =
	// Slot(key)*P/SlotCount (SlotPartition), so that Redis Cluster clients
	// can route by slot (docs/resp.md, "Redis Cluster mode").
	KeyHashSlots = 1

	// MaxPartitions bounds Config.Partitions so that a configuration read
	// from the wire cannot make a node allocate without limit.
	MaxPartitions = 1 << 20
	// MaxVirtualNodes bounds Config.VirtualNodes for the same reason.
	MaxVirtualNodes = 4096
	// MaxLoad bounds Config.Load; larger values disable balancing in effect.
	MaxLoad = 16.0
)

// Config controls the placement of partitions on members. Every node of a
// cluster must use the same Partitions, Backups, VirtualNodes, Load and
// Placement, or they compute different tables.
type Config struct {
	// Partitions is the number of partitions P, fixed for a cluster's life.
	// It must be in [1, MaxPartitions]; zero is invalid (use
	// DefaultConfig). A prime spreads keys best.
	Partitions int

	// Backups is the number B of backup members per partition, besides the
	// owner. Zero means no backups. With fewer than B+1 members each
	// partition gets as many backups as there are other members.
	Backups int

	// VirtualNodes is the number of points each member has on the hash ring
	// (in placement v1, github.com/buraksezer/consistent's
	// ReplicationFactor). Zero means DefaultVirtualNodes; otherwise it must
	// be in [2, MaxVirtualNodes].
	VirtualNodes int

	// Load bounds the partitions a member owns: at most
	// max(ceil(P/N), floor(Load*P/N)) for N members, so max/mean <= Load
	// whenever P/N allows it. Backup slots are held to the same bound unless
	// zone diversity needs otherwise. Zero means DefaultLoad; otherwise it
	// must be in (1, MaxLoad].
	Load float64

	// Placement is the placement algorithm version: PlacementV1,
	// PlacementV2 or PlacementV3. Two versions place the same members differently, so it
	// is a protocol between nodes: every node of a cluster must use the same
	// one (docs/rebalancing.md, "Placement versions"). Zero means
	// DefaultPlacement.
	Placement int

	// KeyHash is how a key is placed in a partition: KeyHashXX (0, the
	// default) or KeyHashSlots. It is chosen when a cluster is created and
	// never changes: every node and client of a cluster must use the same
	// one, or they look for keys in different partitions.
	KeyHash int
}

// DefaultConfig returns the default configuration: 271 partitions, no
// backups, 100 virtual nodes per member, a load factor of 1.25 and
// placement version 2.
func DefaultConfig() Config {
	return Config{
		Partitions:   DefaultPartitions,
		Backups:      0,
		VirtualNodes: DefaultVirtualNodes,
		Load:         DefaultLoad,
		Placement:    DefaultPlacement,
	}
}

// Validate reports whether c is usable, wrapping ErrInvalidConfig with the
// first problem found. Nodes call it on start-up so that a bad flag fails
// there rather than at the first membership change.
func (c Config) Validate() error {
	switch {
	case c.Partitions < 1 || c.Partitions > MaxPartitions:
		return fmt.Errorf("%w: partitions %d, want 1..%d", ErrInvalidConfig, c.Partitions, MaxPartitions)
	case c.Backups < 0:
		return fmt.Errorf("%w: backups %d, want >= 0", ErrInvalidConfig, c.Backups)
	case c.VirtualNodes != 0 && (c.VirtualNodes < 2 || c.VirtualNodes > MaxVirtualNodes):
		// consistent panics with one virtual node and one member: its walk
		// visits all ring points but one.
		return fmt.Errorf("%w: virtual nodes %d, want 0 (default) or 2..%d", ErrInvalidConfig, c.VirtualNodes, MaxVirtualNodes)
	case math.IsNaN(c.Load) || c.Load != 0 && (c.Load <= 1 || c.Load > MaxLoad):
		// A load of 1 leaves no room when N does not divide P: consistent
		// panics with "not enough room to distribute partitions".
		return fmt.Errorf("%w: load %v, want 0 (default) or in (1, %v]", ErrInvalidConfig, c.Load, MaxLoad)
	case c.Placement != 0 && c.Placement != PlacementV1 && c.Placement != PlacementV2 && c.Placement != PlacementV3:
		return fmt.Errorf("%w: placement version %d, want 0 (default), %d, %d or %d", ErrInvalidConfig, c.Placement, PlacementV1, PlacementV2, PlacementV3)
	case c.KeyHash != KeyHashXX && c.KeyHash != KeyHashSlots:
		return fmt.Errorf("%w: key hash %d, want %d (xxhash) or %d (Redis Cluster slots)", ErrInvalidConfig, c.KeyHash, KeyHashXX, KeyHashSlots)
	}
	return nil
}

// withDefaults returns c with zero fields that have defaults filled in.
func (c Config) withDefaults() Config {
	if c.VirtualNodes == 0 {
		c.VirtualNodes = DefaultVirtualNodes
	}
	if c.Load == 0 {
		c.Load = DefaultLoad
	}
	if c.Placement == 0 {
		c.Placement = DefaultPlacement
	}
	return c
}

// capacity is the most slots of total that one of n members may hold under
// load factor load: max(ceil(total/n), floor(load*total/n)). The first term
// makes room for every slot; the second is the bounded-load cap.
func capacity(total, n int, load float64) int {
	if n <= 0 {
		return 0
	}
	need := (total + n - 1) / n
	// The epsilon keeps 1.25*280/14 = 25 from flooring to 24 on float error.
	bound := int(math.Floor(load*float64(total)/float64(n) + 1e-9))
	return max(need, bound)
}
