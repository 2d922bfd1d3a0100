package cluster

import "errors"

// Sentinel errors returned by this package. Check them with errors.Is: most
// are wrapped with details.
var (
	// ErrNoNodeID is returned by New when Config.NodeID is empty.
	ErrNoNodeID = errors.New("cluster: no node id")

	// ErrInvalidConfig is returned by New for a Config it cannot use; the
	// wrapped message names the field.
	ErrInvalidConfig = errors.New("cluster: invalid config")

	// ErrMetaTooLarge is returned when a Meta does not fit the limits: a field
	// longer than MaxMetaField bytes, more than MaxWorkers workers, or an
	// encoding longer than memberlist.MetaMaxSize (512 bytes).
	ErrMetaTooLarge = errors.New("cluster: node metadata too large")

	// ErrBadMeta is returned by DecodeMeta for bytes that are not a valid
	// encoding, and by Meta.Validate for a field with an invalid value.
	ErrBadMeta = errors.New("cluster: bad node metadata")

	// ErrIncompatible reports a member refused because it cannot share a
	// cluster with this node: it advertises another Meta.Placement. Join
	// returns it (wrapped) when the seeds advertise another placement;
	// Refused returns the last such refusal.
	ErrIncompatible = errors.New("cluster: incompatible member")

	// ErrShutdown is returned by methods called after Shutdown or Leave.
	ErrShutdown = errors.New("cluster: shut down")

	// ErrAlreadyStarted is returned by a second call to Start.
	ErrAlreadyStarted = errors.New("cluster: already started")

	// ErrNoPeers is returned by Join when the seeds resolve to no address
	// other than this node's own.
	ErrNoPeers = errors.New("cluster: no peer address to join")

	// ErrJoinFailed is returned by Join when no peer could be contacted; it
	// is joined with the error of every failed seed and address.
	ErrJoinFailed = errors.New("cluster: join failed")

	// ErrUnknownMember is returned by Ping for an id that is not a live
	// member.
	ErrUnknownMember = errors.New("cluster: no such live member")

	// ErrLeaveTimeout is returned by Leave when the leave message was not
	// broadcast within the timeout. The node is shut down anyway.
	ErrLeaveTimeout = errors.New("cluster: leave broadcast timed out")

	// ErrNoEncryption is returned by the keyring methods when gossip is not
	// encrypted (no Config.SecretKey): keys cannot be rotated in.
	ErrNoEncryption = errors.New("cluster: gossip encryption is off")

	// ErrBadKey is returned for a gossip key that is not 16, 24 or 32 bytes,
	// a key file that holds none, and keyring changes memberlist refuses
	// (using a key not installed, removing the primary key).
	ErrBadKey = errors.New("cluster: bad gossip key")
)
