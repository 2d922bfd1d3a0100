package history

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// register is the model state of one key: its value and whether it exists.
type register struct {
	v  string
	ok bool
}

// RegisterModel is the porcupine model of one key of the KV store: a
// register with put, get, compare-and-swap and increment (a counter is a
// decimal value). Inputs and outputs are Ops (the same Op for both). An
// Unknown write may or may not have happened: the checker linearizes it
// anywhere after its invocation, including after everything else, which
// stands for "never".
var RegisterModel = porcupine.Model{
	Init: func() interface{} { return register{} },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st := state.(register)
		o := output.(Op)
		switch o.Kind {
		case Get:
			return o.Found == st.ok && (!o.Found || o.Value == st.v), st
		case Put:
			return true, register{o.Value, true}
		case CAS:
			match := (o.ExpectAbsent && !st.ok) || (!o.ExpectAbsent && st.ok && st.v == o.Expect)
			if o.Outcome == Unknown {
				if match {
					return true, register{o.Value, true}
				}
				return true, st
			}
			if o.Found != match {
				return false, st
			}
			if match {
				return true, register{o.Value, true}
			}
			return true, st
		case Incr:
			var cur int64
			if st.ok {
				v, err := strconv.ParseInt(st.v, 10, 64)
				if err != nil {
					return false, st
				}
				cur = v
			}
			n := cur + o.Delta
			if o.Outcome == OK && o.Counter != n {
				return false, st
			}
			return true, register{strconv.FormatInt(n, 10), true}
		}
		return false, st
	},
	DescribeOperation: func(input, output interface{}) string {
		o := output.(Op)
		s := o.String()
		if i := strings.Index(s, " ["); i >= 0 {
			// drop the times: the visualization draws them
			if j := strings.Index(s[i:], "]"); j >= 0 {
				s = s[:i] + s[i+j+1:]
			}
		}
		return s
	},
	DescribeState: func(state interface{}) string {
		st := state.(register)
		if !st.ok {
			return "absent"
		}
		return strconv.Quote(st.v)
	},
}

// LinearReport is the result of CheckLinearizable.
type LinearReport struct {
	// Keys counts the keys checked, Ops their operations.
	Keys, Ops int
	// Illegal lists the keys whose history is not linearizable.
	Illegal []string
	// TimedOut lists the keys the checker gave up on.
	TimedOut []string
	// Files lists the visualizations written for the first illegal keys
	// (at most 5).
	Files []string
	// Took is how long the check ran.
	Took time.Duration
}

// String formats the counts on one line.
func (r LinearReport) String() string {
	return fmt.Sprintf("keys=%d ops=%d illegal=%d timed_out=%d took=%v", r.Keys, r.Ops, len(r.Illegal), len(r.TimedOut), r.Took.Round(time.Millisecond))
}

// Operations converts ops to porcupine operations: reads that failed or
// have unknown outcomes are dropped (they changed nothing), and unknown
// writes return at the end of time.
func Operations(ops []Op) []porcupine.Operation {
	var end int64
	for _, op := range ops {
		end = max(end, int64(op.Return))
	}
	end += int64(time.Hour)
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		if op.Outcome == Fail || (op.Kind == Get && op.Outcome != OK) || op.Outcome == Pending {
			continue
		}
		ret := int64(op.Return)
		if op.Outcome == Unknown {
			ret = min(end+int64(op.ID), math.MaxInt64)
		}
		out = append(out, porcupine.Operation{ClientId: op.Client, Input: op, Call: int64(op.Call), Output: op, Return: ret})
	}
	return out
}

// CheckLinearizable checks, key by key, that ops are linearizable under
// RegisterModel, spending at most timeout in all. When dir is not "", an
// HTML visualization of each illegal key's history is written there.
func CheckLinearizable(ops []Op, timeout time.Duration, dir string) LinearReport {
	return CheckLinearizableOpts(ops, LinearOptions{Timeout: timeout, Dir: dir})
}

// LinearOptions configure CheckLinearizableOpts.
type LinearOptions struct {
	// Timeout bounds the whole check; keys not decided in time are
	// reported TimedOut.
	Timeout time.Duration
	// Dir, when not "", receives an HTML visualization of the first
	// illegal keys.
	Dir string
	// Slack, when positive, bounds Unknown writes: each took effect
	// before its deadline plus Slack, or never (BoundedRegisterModel,
	// BoundedOperations). Zero keeps RegisterModel's "any time after the
	// invocation".
	Slack time.Duration
}

// CheckLinearizableOpts is CheckLinearizable with options.
func CheckLinearizableOpts(ops []Op, o LinearOptions) LinearReport {
	timeout, dir := o.Timeout, o.Dir
	model, convert := RegisterModel, Operations
	if o.Slack > 0 {
		model = BoundedRegisterModel
		convert = func(ops []Op) []porcupine.Operation { return BoundedOperations(ops, o.Slack) }
	}
	start := time.Now()
	var r LinearReport
	byKey := ByKey(ops)
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	deadline := start.Add(timeout)
	for i, k := range keys {
		hist := convert(byKey[k])
		if len(hist) == 0 {
			continue
		}
		r.Keys++
		r.Ops += len(hist)
		left := time.Until(deadline) / time.Duration(len(keys)-i)
		res, info := porcupine.CheckOperationsVerbose(model, hist, max(left, 10*time.Millisecond))
		switch res {
		case porcupine.Illegal:
			r.Illegal = append(r.Illegal, k)
			if dir != "" && len(r.Files) < 5 {
				path := filepath.Join(dir, fmt.Sprintf("linear-%d.html", len(r.Illegal)))
				if err := porcupine.VisualizePath(model, info, path); err == nil {
					r.Files = append(r.Files, path)
				}
			}
		case porcupine.Unknown:
			r.TimedOut = append(r.TimedOut, k)
		}
	}
	r.Took = time.Since(start)
	return r
}
