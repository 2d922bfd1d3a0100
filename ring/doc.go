// Package ring is the cluster partition table: key -> partition -> owner and
// backups.
//
// A key's partition is PartitionOf(key, P) = xxhash64(key) mod P, with P fixed
// for a cluster's life. New places the P partitions on the members with
// bounded-load consistent hashing: each member has VirtualNodes points on a
// hash ring, a partition goes to the first member clockwise of its own point
// that is under its cap, and the cap is max(ceil(P/N), floor(Load*P/N))
// partitions. Backups are chosen by walking the same ring from the
// partition's point, preferring new zones and members under their backup cap
// (see placeBackups).
//
// Three placement versions implement this (Config.Placement). Version 1
// (PlacementV1, place.go) uses github.com/buraksezer/consistent, whose cost
// grows as N squared: seconds for a few hundred members. Version 2
// (PlacementV2, the default, place2.go) builds the ring once and walks it
// directly: milliseconds for a thousand members; it also places natural owners
// first and spills only the excess, so joins move fewer partitions between old
// members. Version 3 (PlacementV3, place3.go) moves fewer still: evenly
// spaced partitions, a cap per member that steps at its own N (so that no
// join makes every member at the cap shed a partition at once), and owners
// as the stable assignment under those caps. The versions
// give different tables, so every node of a cluster must use the same one;
// docs/rebalancing.md describes the upgrade path.
//
// A Table is an immutable snapshot. Its content depends only on the Config and
// the set of members, never on their order, so every node computes the same
// table; Hash identifies the content and Epoch, supplied by the cluster layer,
// orders snapshots. Clients that receive a table over the wire rebuild it with
// FromAssignment, which validates every index and recomputes the hash. Diff
// lists the partitions whose owner or backups change between two tables.
//
// The package is a pure leaf: no network, no timers, no logging, and no
// panics on bad input: consistent panics on some inputs ("not enough room to
// distribute partitions"), so New validates first and recovers anyway,
// returning ErrPlacement, so that a membership change cannot crash a node.
//
// The placement is a protocol: a change to it (hash, point names, pass order)
// makes nodes of different versions disagree. testdata/golden_v1.txt,
// golden_v2.txt and golden_v3.txt pin each version; a new algorithm is a new
// version.
package ring
