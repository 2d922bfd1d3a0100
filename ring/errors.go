package ring

import "errors"

// Sentinel errors returned by this package. They are wrapped with details
// (fmt.Errorf("%w: ...")); test them with errors.Is.
var (
	// ErrInvalidConfig reports a Config that Validate rejects.
	ErrInvalidConfig = errors.New("ring: invalid config")

	// ErrNoMembers reports an empty member list.
	ErrNoMembers = errors.New("ring: no members")

	// ErrDuplicateMember reports two members with the same ID.
	ErrDuplicateMember = errors.New("ring: duplicate member")

	// ErrTooManyMembers reports more members than partitions: some member
	// would own nothing and the bounded-load placement cannot run.
	ErrTooManyMembers = errors.New("ring: more members than partitions")

	// ErrInvalidMember reports a member that cannot be placed (an empty ID).
	ErrInvalidMember = errors.New("ring: invalid member")

	// ErrInvalidAssignment reports an assignment given to FromAssignment
	// that does not describe a valid table (wrong length, an index out of
	// range, a backup equal to its owner or repeated, too many backups).
	ErrInvalidAssignment = errors.New("ring: invalid assignment")

	// ErrPlacement reports a failure inside the placement algorithm, such as
	// a panic raised by github.com/buraksezer/consistent that validation did
	// not foresee. It never escapes as a panic.
	ErrPlacement = errors.New("ring: placement failed")
)
