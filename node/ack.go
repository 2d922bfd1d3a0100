package node

import (
	"fmt"
	"sync"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/transport"
)

// writeAck follows one applied write until every backup it was sent to has
// applied it; reads that observed the write wait for it too (docs/handoff.md,
// "Reads"): a read never returns a value a crash of the owner could still
// take back. A worker creates it when it applies the write; the replicators
// answer it. Safe for concurrent use.
type writeAck struct {
	op *nsv1.ReplicaOp // the write, to send again if it failed

	mu      sync.Mutex // guards the fields below
	armed   bool       // commit counted the backups (pending is meaningful)
	pending int        // backups still to answer
	err     error      // the first failure
	done    bool
	readers []heldRead
}

// heldRead is a read's result slot waiting for a write.
type heldRead struct {
	env *envelope
	pos int32
}

// arm sets how many backups must answer; with none (or a failed log sync,
// err) the write is settled at once.
func (a *writeAck) arm(backups int, err error) {
	a.mu.Lock()
	a.armed, a.pending = true, backups
	if err != nil && a.err == nil {
		a.err = err
	}
	settle := a.pending == 0
	a.mu.Unlock()
	if settle {
		a.settle()
	}
}

// answer records one backup's answer (err nil: applied).
func (a *writeAck) answer(err error) {
	a.mu.Lock()
	if err != nil && a.err == nil {
		a.err = err
	}
	a.pending--
	settle := a.armed && a.pending == 0
	a.mu.Unlock()
	if settle {
		a.settle()
	}
}

// settle releases the reads that waited; if the write failed they fail too:
// what they read may not be on every backup.
func (a *writeAck) settle() {
	a.mu.Lock()
	a.done = true
	readers, err := a.readers, a.err
	a.readers = nil
	a.mu.Unlock()
	for _, r := range readers {
		if err != nil {
			r.env.results[r.pos] = transport.ResultError(fmt.Errorf("%w: the read observed a write of partition %d that is not on every backup yet (%v); retry",
				transport.ErrUnavailable, a.op.GetPartition(), err))
		}
		r.env.call.finish()
	}
}

// state reports whether the write is settled, and how.
func (a *writeAck) state() (done bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.done, a.err
}

// hold makes the read at env/pos wait for the write; false when the write
// settled meanwhile (the read need not wait). The caller has added one to
// env's call; hold finishes it when it returns false.
func (a *writeAck) hold(env *envelope, pos int32) bool {
	a.mu.Lock()
	if a.done {
		a.mu.Unlock()
		env.call.finish()
		return false
	}
	a.readers = append(a.readers, heldRead{env: env, pos: pos})
	a.mu.Unlock()
	return true
}
