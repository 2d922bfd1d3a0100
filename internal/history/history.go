// Package history records the operations a test client runs against a
// cluster and checks what the cluster promised about them: no acknowledged
// write lost, no write applied twice, and (per key) linearizability, checked
// with github.com/anishathalye/porcupine.
//
// One Recorder serves one test process: every time it records comes from one
// monotonic clock (time.Since of the Recorder's start), so invoke and return
// times of different goroutines compare. Values written must be unique per
// key (the checkers map a value read back to the one write that wrote it).
//
// Outcomes: an operation is OK when the cluster acknowledged it, Fail when it
// certainly had no effect (only reads are ever recorded so: a failed read
// changes nothing), and Unknown when the client gave up without knowing (a
// write whose retries ran out, a timeout): it may have taken effect, at any
// time after its invocation.
package history

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Kind is what an operation does.
type Kind uint8

// Operation kinds.
const (
	// Put stores Value under Key.
	Put Kind = 1 + iota
	// Get reads Key: Found and Value are what it returned.
	Get
	// CAS stores Value under Key if it holds Expect (ExpectAbsent: if it is
	// absent); Found reports whether it swapped.
	CAS
	// Incr adds Delta to the counter at Key; Counter is the new value.
	Incr
)

// String returns "put", "get", "cas", "incr" or "Kind(n)".
func (k Kind) String() string {
	switch k {
	case Put:
		return "put"
	case Get:
		return "get"
	case CAS:
		return "cas"
	case Incr:
		return "incr"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Write reports whether operations of kind k may change the state.
func (k Kind) Write() bool { return k != Get }

// Outcome is how an operation ended.
type Outcome uint8

// Outcomes.
const (
	// Pending: invoked, not returned yet.
	Pending Outcome = iota
	// OK: acknowledged by the cluster.
	OK
	// Fail: certainly had no effect.
	Fail
	// Unknown: may or may not have taken effect.
	Unknown
)

// String returns "pending", "ok", "fail", "unknown" or "Outcome(n)".
func (o Outcome) String() string {
	switch o {
	case Pending:
		return "pending"
	case OK:
		return "ok"
	case Fail:
		return "fail"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Op is one recorded operation.
type Op struct {
	// ID is the operation's index in the history.
	ID int
	// Client identifies the caller (a worker goroutine); informational.
	Client int
	// Kind, Key and the arguments.
	Kind         Kind
	Key          string
	Value        string // Put, CAS: the value written; Get: the value read
	Expect       string // CAS: the expected value
	ExpectAbsent bool   // CAS: swap only if absent
	Delta        int64  // Incr
	// Results (Outcome OK).
	Found   bool  // Get: the key was present; CAS: swapped
	Counter int64 // Incr: the new value
	// Call and Return are the invocation and return times, since the
	// Recorder started. Return is the time the caller gave up for Unknown.
	Call, Return time.Duration
	// Timeout is the caller's deadline, relative to Call; 0 means none
	// (or not recorded). BoundedOperations closes an Unknown write's
	// interval at Call+Timeout (plus slack).
	Timeout time.Duration
	Outcome Outcome
	// Err is the error's text when the outcome is not OK.
	Err string
}

// Acked reports whether op is an acknowledged write that changed the state
// (an OK put or incr, a CAS that swapped).
func (op Op) Acked() bool {
	if op.Outcome != OK || !op.Kind.Write() {
		return false
	}
	return op.Kind != CAS || op.Found
}

// MaybeWrote reports whether op may have written its Value (an acked write,
// or an unknown put or CAS).
func (op Op) MaybeWrote() bool {
	return op.Acked() || (op.Outcome == Unknown && op.Kind.Write())
}

// String describes op in one line.
func (op Op) String() string {
	var arg string
	switch op.Kind {
	case Put:
		arg = fmt.Sprintf("%q", op.Value)
	case CAS:
		exp := fmt.Sprintf("%q", op.Expect)
		if op.ExpectAbsent {
			exp = "absent"
		}
		arg = fmt.Sprintf("%s->%q", exp, op.Value)
	case Incr:
		arg = fmt.Sprint(op.Delta)
	}
	var res string
	switch {
	case op.Outcome != OK:
		res = op.Outcome.String()
		if op.Err != "" {
			res += " (" + op.Err + ")"
		}
	case op.Kind == Get && op.Found:
		res = fmt.Sprintf("%q", op.Value)
	case op.Kind == Get:
		res = "absent"
	case op.Kind == CAS:
		res = fmt.Sprintf("swapped=%v", op.Found)
	case op.Kind == Incr:
		res = fmt.Sprint(op.Counter)
	default:
		res = "ok"
	}
	return fmt.Sprintf("#%d c%d %s %q %s [%v, %v] -> %s", op.ID, op.Client, op.Kind, op.Key, arg,
		op.Call.Round(time.Millisecond), op.Return.Round(time.Millisecond), res)
}

// Recorder records operations. It is safe for concurrent use.
type Recorder struct {
	start time.Time

	mu  sync.Mutex // guards ops
	ops []Op
}

// NewRecorder returns a Recorder whose clock starts now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now returns the time since the Recorder started (monotonic).
func (r *Recorder) Now() time.Duration { return time.Since(r.start) }

// Start returns the wall time the Recorder's clock started at.
func (r *Recorder) Start() time.Time { return r.start }

// At converts a wall time to the Recorder's clock.
func (r *Recorder) At(t time.Time) time.Duration { return t.Sub(r.start) }

// Invoke records that op (Client, Kind, Key and arguments set) starts now
// and returns its id for Return.
func (r *Recorder) Invoke(op Op) int {
	op.Call = r.Now()
	op.Outcome = Pending
	r.mu.Lock()
	defer r.mu.Unlock()
	op.ID = len(r.ops)
	r.ops = append(r.ops, op)
	return op.ID
}

// Result is what an operation returned.
type Result struct {
	Outcome Outcome
	Value   string // Get
	Found   bool   // Get: present; CAS: swapped
	Counter int64  // Incr
	Err     error
}

// Return records that operation id returned now with res.
func (r *Recorder) Return(id int, res Result) {
	now := r.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	op := &r.ops[id]
	op.Return = now
	op.Outcome = res.Outcome
	op.Found = res.Found
	op.Counter = res.Counter
	if op.Kind == Get {
		op.Value = res.Value
	}
	if res.Err != nil {
		op.Err = res.Err.Error()
	}
}

// Ops returns a copy of the history. Operations still pending are reported
// Unknown, returned now.
func (r *Recorder) Ops() []Op {
	now := r.Now()
	r.mu.Lock()
	out := append([]Op(nil), r.ops...)
	r.mu.Unlock()
	for i := range out {
		if out[i].Outcome == Pending {
			out[i].Outcome = Unknown
			out[i].Return = now
			out[i].Err = "still pending"
		}
	}
	return out
}

// Stats are the figures of a history.
type Stats struct {
	// Ops counts operations; OK, Failed and Unknown by outcome.
	Ops, OK, Failed, Unknown int
	// Writes counts write operations, Acked the acknowledged ones (an OK
	// CAS counts whether it swapped or not).
	Writes, Acked int
	// MaxLatency is the longest OK operation, retries included.
	MaxLatency time.Duration
	// MaxGap is the longest time between two consecutive OK returns
	// (between Window's bounds when set): how long the client saw no
	// progress at all.
	MaxGap time.Duration
	// MaxGapAt is when (recorder clock) that gap began.
	MaxGapAt time.Duration
	// MaxUnavailable is the longest time one key could not be served while
	// someone asked for it: per key, calls in invocation order form
	// streaks of unsuccessful calls (failed, or unknown: given up) closed
	// by the next call that succeeded; a streak counts the time its calls
	// were outstanding (the union of their call-to-return intervals, the
	// closing call's included) and the pauses of up to a second between
	// them (a caller backing off), but not longer ones, in which nobody
	// asked for the key. A successful call alone counts its own latency.
	// Calls invoked within Window's bounds when set. MaxUnavailableKey and
	// MaxUnavailableAt name the key and when (recorder clock) its streak
	// began.
	MaxUnavailable    time.Duration
	MaxUnavailableKey string
	MaxUnavailableAt  time.Duration
}

// Summarize computes the figures of ops. When to > from, MaxGap is measured
// in [from, to] only (ops returning outside are ignored for it).
func Summarize(ops []Op, from, to time.Duration) Stats {
	var s Stats
	var rets []time.Duration
	for _, op := range ops {
		s.Ops++
		if op.Kind.Write() {
			s.Writes++
		}
		switch op.Outcome {
		case OK:
			s.OK++
			if op.Kind.Write() {
				s.Acked++
			}
			s.MaxLatency = max(s.MaxLatency, op.Return-op.Call)
			if to <= from || (op.Return >= from && op.Return <= to) {
				rets = append(rets, op.Return)
			}
		case Fail:
			s.Failed++
		default:
			s.Unknown++
		}
	}
	sort.Slice(rets, func(i, j int) bool { return rets[i] < rets[j] })
	if to > from && len(rets) > 0 {
		rets = append(append([]time.Duration{from}, rets...), to)
	}
	for i := 1; i < len(rets); i++ {
		if g := rets[i] - rets[i-1]; g > s.MaxGap {
			s.MaxGap, s.MaxGapAt = g, rets[i-1]
		}
	}
	s.maxUnavailable(ops, from, to)
	return s
}

// retryGap is the longest pause between two calls on one key that still
// counts as someone waiting for it (a caller backing off between tries);
// a longer one is time in which nobody asked.
const retryGap = time.Second

// maxUnavailable fills in s.MaxUnavailable (see Stats).
func (s *Stats) maxUnavailable(ops []Op, from, to time.Duration) {
	for key, kops := range ByKey(ops) {
		var (
			in         bool          // inside a streak
			start      time.Duration // the streak's first invocation
			union      time.Duration // time covered by the streak's calls so far
			coveredEnd time.Duration // end of the covered time so far
		)
		for _, op := range kops {
			if to > from && (op.Call < from || op.Call > to) {
				continue
			}
			if !in {
				in, start, union, coveredEnd = true, op.Call, 0, op.Call
			}
			if gap := op.Call - coveredEnd; gap > 0 && gap <= retryGap {
				union += gap // the caller backing off between tries
			}
			if op.Return > coveredEnd { // calls come in invocation order
				union += op.Return - max(op.Call, coveredEnd)
				coveredEnd = op.Return
			}
			if union > s.MaxUnavailable {
				s.MaxUnavailable, s.MaxUnavailableKey, s.MaxUnavailableAt = union, key, start
			}
			if op.Outcome == OK {
				in = false
			}
		}
	}
}

// String formats the figures on one line.
func (s Stats) String() string {
	return fmt.Sprintf("ops=%d ok=%d failed=%d unknown=%d writes=%d acked=%d max_latency=%v max_gap=%v (at %v) max_unavailable=%v (key %q at %v)",
		s.Ops, s.OK, s.Failed, s.Unknown, s.Writes, s.Acked, s.MaxLatency.Round(time.Millisecond),
		s.MaxGap.Round(time.Millisecond), s.MaxGapAt.Round(time.Millisecond),
		s.MaxUnavailable.Round(time.Millisecond), s.MaxUnavailableKey, s.MaxUnavailableAt.Round(time.Millisecond))
}

// ByKey groups ops by key, each group in invocation order.
func ByKey(ops []Op) map[string][]Op {
	m := map[string][]Op{}
	for _, op := range ops {
		m[op.Key] = append(m[op.Key], op)
	}
	for _, g := range m {
		sort.SliceStable(g, func(i, j int) bool { return g[i].Call < g[j].Call })
	}
	return m
}
