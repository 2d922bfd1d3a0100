package history

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Violation is one broken promise.
type Violation struct {
	// Key is the key concerned.
	Key string
	// What is "lost" (an acknowledged write is not in the final state),
	// "duplicate" (a write took effect more than once), or "phantom" (the
	// final state holds a value nobody wrote).
	What string
	// Detail explains, with the operations involved.
	Detail string
}

func (v Violation) String() string { return v.What + " " + strconv.Quote(v.Key) + ": " + v.Detail }

// Finals returns, per key, the last OK Get invoked at or after after: the
// final reads a test makes once its writers stopped.
func Finals(ops []Op, after time.Duration) map[string]Op {
	m := map[string]Op{}
	for _, op := range ops {
		if op.Kind != Get || op.Outcome != OK || op.Call < after {
			continue
		}
		if prev, ok := m[op.Key]; !ok || op.Call >= prev.Call {
			m[op.Key] = op
		}
	}
	return m
}

// WriteReport is the result of CheckWrites.
type WriteReport struct {
	// Keys counts the keys written; Checked those with a final read.
	Keys, Checked int
	// AckedWrites counts the acknowledged writes checked.
	AckedWrites int
	// Lost, Duplicates and Phantoms count the violations of each kind.
	Lost, Duplicates, Phantoms int
	// Violations lists them.
	Violations []Violation
	// Unchecked lists written keys with no final read.
	Unchecked []string
}

// String formats the counts on one line.
func (r WriteReport) String() string {
	return fmt.Sprintf("keys=%d checked=%d acked_writes=%d lost=%d duplicates=%d phantoms=%d unchecked=%d",
		r.Keys, r.Checked, r.AckedWrites, r.Lost, r.Duplicates, r.Phantoms, len(r.Unchecked))
}

func (r *WriteReport) add(v Violation) {
	switch v.What {
	case "lost":
		r.Lost++
	case "duplicate":
		r.Duplicates++
	default:
		r.Phantoms++
	}
	r.Violations = append(r.Violations, v)
}

// CheckWrites checks the writes of ops against the final reads (see
// Finals). A key written with Incr is a counter: its final value must lie
// between the sum of the acknowledged increments (else some were lost) and
// that sum plus the unknown ones (else some were applied twice), and no two
// acknowledged increments of delta 1 may have returned the same value. Any
// other key is a register (Put and CAS with values unique per key): its
// final value must be the value of a write that might have happened, and no
// acknowledged write may have started after that write was acknowledged
// (that later write would be lost); a key read absent must have no
// acknowledged write.
func CheckWrites(ops []Op, finals map[string]Op) WriteReport {
	var r WriteReport
	byKey := map[string][]Op{}
	for _, op := range ops {
		if op.Kind.Write() {
			byKey[op.Key] = append(byKey[op.Key], op)
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	r.Keys = len(keys)
	for _, k := range keys {
		writes := byKey[k]
		fin, ok := finals[k]
		if !ok {
			r.Unchecked = append(r.Unchecked, k)
			continue
		}
		r.Checked++
		if writes[0].Kind == Incr {
			checkCounter(&r, k, writes, fin)
		} else {
			checkRegister(&r, k, writes, fin)
		}
	}
	return r
}

func checkCounter(r *WriteReport, k string, writes []Op, fin Op) {
	var acked, unknown int64
	seen := map[int64]Op{}
	for _, w := range writes {
		switch {
		case w.Kind != Incr:
			r.add(Violation{k, "phantom", "counter key also written by " + w.String()})
			return
		case w.Outcome == OK:
			acked += w.Delta
			r.AckedWrites++
			if w.Delta == 1 {
				if prev, dup := seen[w.Counter]; dup {
					r.add(Violation{k, "lost", fmt.Sprintf("two acknowledged increments returned %d: %v and %v", w.Counter, prev, w)})
				}
				seen[w.Counter] = w
			}
		case w.Outcome == Unknown:
			unknown += w.Delta
		}
	}
	var final int64
	if fin.Found {
		v, err := strconv.ParseInt(fin.Value, 10, 64)
		if err != nil {
			r.add(Violation{k, "phantom", fmt.Sprintf("final value %q is not a counter", fin.Value)})
			return
		}
		final = v
	}
	switch {
	case final < acked:
		r.add(Violation{k, "lost", fmt.Sprintf("final counter %d < %d acknowledged increments (%d unknown)", final, acked, unknown)})
	case final > acked+unknown:
		r.add(Violation{k, "duplicate", fmt.Sprintf("final counter %d > %d acknowledged + %d unknown increments", final, acked, unknown)})
	}
}

func checkRegister(r *WriteReport, k string, writes []Op, fin Op) {
	var acked []Op
	for _, w := range writes {
		if w.Acked() {
			acked = append(acked, w)
		}
	}
	r.AckedWrites += len(acked)
	if !fin.Found {
		if len(acked) > 0 {
			r.add(Violation{k, "lost", fmt.Sprintf("read absent by %v; %d acknowledged writes, the last %v", fin, len(acked), acked[len(acked)-1])})
		}
		return
	}
	var src *Op
	for i := range writes {
		if writes[i].MaybeWrote() && writes[i].Value == fin.Value {
			src = &writes[i]
			break
		}
	}
	if src == nil {
		r.add(Violation{k, "phantom", fmt.Sprintf("final value %q (read by %v) was never written", fin.Value, fin)})
		return
	}
	if src.Outcome != OK {
		return // an unknown write may have landed at any time
	}
	for _, a := range acked {
		if a.ID != src.ID && a.Call > src.Return {
			r.add(Violation{k, "lost", fmt.Sprintf("%v was acknowledged after %v returned, yet the final read %v sees the earlier value", a, *src, fin)})
			return
		}
	}
}
