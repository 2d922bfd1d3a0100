// Package cluster is a node's membership in an ns cluster, built on
// github.com/hashicorp/memberlist (SWIM gossip): joining by static seeds or DNS
// names, node metadata, failure detection, graceful leave, and a View of the
// live members numbered by an Epoch every node agrees on. node/ turns views
// into partition tables; this package knows nothing of partitions.
//
// # Lifecycle
//
// New validates the Config and creates the memberlist, which binds the gossip
// sockets. Start starts the Cluster's goroutines: the view loop, which
// computes views and calls Config.OnView, the metadata advertiser, the
// reconnect loop, which rejoins members considered dead so that the halves of
// a long network partition merge once it heals (reconnect.go), and the join
// loop, which retries the seeds with backoff. Leave announces the
// departure and shuts down; Shutdown just stops (other nodes then detect the
// failure).
//
// # Events
//
// memberlist calls its delegates synchronously from its gossip goroutines,
// holding its own locks. The delegate here only records the event in the
// member table (a map behind a mutex) and sends a wake-up into a channel of
// capacity 1; the view loop then computes one view for however many events
// arrived meanwhile. Nothing that can block runs on memberlist's goroutines.
//
// # Epoch agreement
//
// Every node numbers member sets with an epoch, and nodes that see the same
// live member set converge to the same epoch; a node's epoch never decreases.
// Each node advertises, in its gossiped metadata, its current epoch and a hash
// of the sorted ids of the member set that epoch numbers. On each change of the
// member table a node applies one rule (tracker.compute):
//
//   - The live member set differs from the one its epoch numbers: the new
//     epoch is 1 + the largest of its own epoch and every live member's
//     advertised epoch.
//   - The set is the same, and a live member advertises a larger epoch for
//     the same set hash: adopt that epoch.
//
// The new epoch and hash are re-gossiped (memberlist.UpdateNode, from the
// advertiser goroutine, never from a delegate). Each membership change makes
// each node bump at most once, and adoption only moves to an epoch some node
// already holds, so once the member set is stable every node holding it ends
// at the largest epoch any of them computed: as soon as the metadata updates
// have spread, within a few gossip intervals (under a second with
// DefaultMemberlist), or at worst at the next push/pull. Epochs are
// numbers for tables, not a consensus protocol: during churn, nodes that see
// different sets have different (view, epoch) pairs, and View.Hash tells them
// apart.
//
// # Member states
//
// Alive and suspect members are in the View (a suspect still owns its
// partitions); dead and left members are not, and Members still reports them
// for Config.ReapTimeout. memberlist v0.7.0 does not tell its users which
// nodes are suspect (its Node.State field is never filled in: the state lives
// in an unexported field that shadows it), so suspect members are reported as
// alive. It does not say either whether a node failed or left: Leave first
// gossips a "leaving" flag in the metadata, and a node that disappears with
// that flag set is reported StateLeft, otherwise StateDead.
//
// # Metadata
//
// The metadata is a versioned binary encoding (see wireMeta) of at most
// memberlist.MetaMaxSize bytes. DecodeMeta is strict: anything but the exact
// canonical encoding is rejected, and nodes whose metadata does not decode are
// refused admission (memberlist's AliveDelegate), so a foreign memberlist
// cluster on the same port cannot merge with this one.
package cluster
