package history

import (
	"math"
	"time"

	"github.com/anishathalye/porcupine"
)

// Bounded checking. An Unknown write normally stands for "maybe, at any
// time after its invocation" (RegisterModel): sound, but weak (a write that
// lands minutes after its caller gave up passes) and slow (every unknown
// write stays open to the end of the history, so the search grows with the
// number of timeouts). A cluster that never applies a request after the
// caller's deadline (ns carries it on the wire) promises more: an unknown
// write took effect between its invocation and its deadline plus a little
// slack, or never. BoundedRegisterModel checks exactly that.

// BoundedRegisterModel is RegisterModel where an Unknown write either takes
// effect or does not, within its own interval: porcupine's nondeterministic
// model, whose every Unknown put, CAS and increment steps to both "applied"
// and "not applied". Use it with BoundedOperations, which closes each
// Unknown write's interval at its deadline plus slack.
var BoundedRegisterModel = func() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []interface{} { return []interface{}{register{}} },
		Step: func(state, input, output interface{}) []interface{} {
			o := output.(Op)
			ok, next := RegisterModel.Step(state, input, output)
			if o.Outcome != Unknown || !o.Kind.Write() {
				if !ok {
					return nil
				}
				return []interface{}{next}
			}
			// RegisterModel applies an unknown write (or, for a CAS that
			// does not match, leaves the state): it may also not have
			// happened at all.
			if next == state {
				return []interface{}{state}
			}
			return []interface{}{state, next}
		},
		DescribeOperation: RegisterModel.DescribeOperation,
		DescribeState:     RegisterModel.DescribeState,
	}
	return nm.ToModel()
}()

// BoundedOperations converts ops to porcupine operations like Operations,
// except that an Unknown write returns at max(Return, Call+Timeout)+slack
// when its Timeout is known; one without a Timeout returns at the end of
// time, as in Operations.
func BoundedOperations(ops []Op, slack time.Duration) []porcupine.Operation {
	out := Operations(ops)
	for i := range out {
		op := out[i].Output.(Op)
		if op.Outcome != Unknown || op.Timeout <= 0 {
			continue
		}
		out[i].Return = min(int64(max(op.Return, op.Call+op.Timeout)+slack), math.MaxInt64)
	}
	return out
}
