package history

import (
	"fmt"
	"sort"
	"strconv"
)

// Explain looks for the first plain anomaly in one key's history (ops of a
// single key): a counter read or increment that saw less than what an
// operation finished before it had seen, or a register read that returned a
// value overwritten, before the read began, by an acknowledged write
// invoked after that value's write returned. It returns the index in ops
// of the offending operation and why, or -1 when it finds none: the
// porcupine checker decides; this only points a human at the place.
func Explain(ops []Op) (int, string) {
	idx := make([]int, len(ops))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ops[idx[a]].Call < ops[idx[b]].Call })
	counter := false
	for _, op := range ops {
		if op.Kind == Incr {
			counter = true
			break
		}
	}
	if counter {
		return explainCounter(ops, idx)
	}
	return explainRegister(ops, idx)
}

// seen is what an OK operation observed of a counter: a get its value, an
// increment the value before it.
func seen(op Op) (int64, bool) {
	if op.Outcome != OK {
		return 0, false
	}
	switch op.Kind {
	case Incr:
		return op.Counter - op.Delta, true
	case Get:
		if !op.Found {
			return 0, true
		}
		v, err := strconv.ParseInt(op.Value, 10, 64)
		return v, err == nil
	}
	return 0, false
}

func explainCounter(ops []Op, idx []int) (int, string) {
	for _, i := range idx {
		op := ops[i]
		v, ok := seen(op)
		if !ok {
			continue
		}
		for j, prev := range ops {
			if prev.Outcome != OK || prev.Return >= op.Call {
				continue
			}
			pv, ok := seen(prev)
			if prev.Kind == Incr {
				pv, ok = prev.Counter, true
			}
			if ok && v < pv {
				return i, fmt.Sprintf("%v saw %d, but %v (#%d) had finished before it began, seeing %d", op, v, prev, j, pv)
			}
		}
	}
	return -1, ""
}

func explainRegister(ops []Op, idx []int) (int, string) {
	writer := map[string]int{} // value -> index of the op that wrote it
	for i, op := range ops {
		if op.MaybeWrote() {
			writer[op.Value] = i
		}
	}
	for _, i := range idx {
		op := ops[i]
		if op.Kind != Get || op.Outcome != OK {
			continue
		}
		if !op.Found {
			// Registers are never deleted: absent after an acknowledged
			// write is stale (found by make soak, seed
			// 1796689711358585609: a partition started empty).
			for j, w := range ops {
				if w.Acked() && w.Return < op.Call {
					return i, fmt.Sprintf("%v read absent after %v (#%d) was acknowledged", op, w, j)
				}
			}
			continue
		}
		w, ok := writer[op.Value]
		if !ok {
			return i, fmt.Sprintf("%v read a value nobody wrote", op)
		}
		src := ops[w]
		for j, later := range ops {
			if j == w || !later.Acked() || later.Return >= op.Call {
				continue
			}
			if later.Call > src.Return && src.Outcome == OK {
				return i, fmt.Sprintf("%v read the value of %v, overwritten by %v (#%d) before the read began", op, src, later, j)
			}
			if src.Outcome == Unknown && src.Timeout > 0 && later.Call > src.Call+src.Timeout {
				return i, fmt.Sprintf("%v read the value of %v (unknown, deadline %v), overwritten by %v (#%d) after that deadline and before the read began",
					op, src, src.Call+src.Timeout, later, j)
			}
		}
	}
	return -1, ""
}
