package kv

import "sync/atomic"

// Limit is a memory budget shared by any number of stores (a node passes one
// Limit to every partition's store). A store charges it when it takes memory
// for a page, its index or its expiry heap, and credits it when it lets the
// memory go. A write that needs memory the budget does not have fails with
// ErrMemoryFull and changes nothing; nothing already stored is ever evicted.
//
// Restore and compaction are always granted the memory they need (they may
// take the budget past its maximum): a handoff or a recovery never fails for
// lack of budget, and compaction frees more than it takes.
//
// A store that is dropped without Reset returns its charge when the garbage
// collector frees it (runtime.AddCleanup), not at once.
//
// Only a partition's owner may refuse a write: the copies that replay it
// (backups, a log replayed at restart) must apply whatever the owner
// accepted, or they diverge. They call Store.HandleReplay, which is charged
// to the Limit but never refused; the owner calls Handle or Apply.
//
// Memory held outside any store (the node's request-id dedup tables) is
// charged with Charge and given back with Release, and counts like stored
// data.
//
// A Limit is safe for concurrent use; stores touch it only when they take or
// free a page (at most every few KiB of writes), never per operation.
type Limit struct {
	max  atomic.Int64
	used atomic.Int64
}

// NewLimit returns a budget of max bytes; max <= 0 means no limit.
func NewLimit(max int64) *Limit {
	l := &Limit{}
	l.max.Store(max)
	return l
}

// SetMax changes the budget; max <= 0 means no limit. Memory already held
// stays held even above the new maximum.
func (l *Limit) SetMax(max int64) { l.max.Store(max) }

// Max returns the budget in bytes; 0 or less means no limit.
func (l *Limit) Max() int64 { return l.max.Load() }

// Used returns the bytes currently charged by the stores that share l.
func (l *Limit) Used() int64 { return l.used.Load() }

// reserve charges n bytes and reports whether it could. With force the
// charge is made even past the maximum.
func (l *Limit) reserve(n int64, force bool) bool {
	for {
		u := l.used.Load()
		if m := l.max.Load(); !force && m > 0 && u+n > m {
			return false
		}
		if l.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// release credits n bytes.
func (l *Limit) release(n int64) { l.used.Add(-n) }

// Charge takes n bytes from the budget for memory held outside any Store
// (the node's request-id dedup tables), so that it counts like stored data,
// and reports whether it could. Without force, a charge that would take the
// budget past its maximum is refused and nothing changes; with force it is
// always made. The holder gives the bytes back with Release. A nil Limit
// accepts every charge.
func (l *Limit) Charge(n int64, force bool) bool {
	if l == nil {
		return true
	}
	return l.reserve(n, force)
}

// Release gives back n bytes taken by Charge. A nil Limit ignores it.
func (l *Limit) Release(n int64) {
	if l != nil {
		l.release(n)
	}
}

// account is what a store has charged. It is kept apart from the Store so
// that the cleanup of a dropped store can credit the Limit.
type account struct {
	limit *Limit // nil: unlimited
	held  int64  // bytes held, charged to limit
}

// charge takes n bytes from the budget, or reports false.
func (a *account) charge(n int, force bool) bool {
	if a.limit != nil && !a.limit.reserve(int64(n), force) {
		return false
	}
	a.held += int64(n)
	return true
}

// uncharge gives n bytes back.
func (a *account) uncharge(n int) {
	a.held -= int64(n)
	if a.limit != nil {
		a.limit.release(int64(n))
	}
}

// releaseAll gives back everything held.
func releaseAccount(a *account) { a.uncharge(int(a.held)) }
