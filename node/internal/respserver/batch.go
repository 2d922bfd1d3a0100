package respserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/transport"
)

// kind says how an op's reply is made from its kv results.
type kind uint8

const (
	kImm      kind = iota // reply ready in conn.imm (also multi-round ops once done)
	kGet                  // get: bulk or null
	kOK                   // puts: +OK
	kSetNX                // cas from absent: +OK or null; with fReplyOld, null or the current value
	kSetNXI               // cas from absent: 1 or 0
	kMGet                 // gets: array
	kDel                  // deletes: how many existed
	kExists               // gets: how many exist
	kIncr                 // incr: the counter
	kTTL                  // get: seconds left, -1, -2
	kPTTL                 // get: milliseconds left, -1, -2
	kType                 // get: string or none
	kCAS                  // cas: 1 or 0
	kStrlen               // get: the value's length, 0 if absent
	kGetRange             // get: the bytes [lo, hi] of the value, Redis's index rules
	kRMW                  // read, then compare-and-swap, until swapped (step)
)

// Flags of a kRMW op.
const (
	fReplyOld = 1 << iota // reply the value before the write (GETSET, SET GET)
	fReplyOK              // reply +OK when written, null when not (SET XX)
	fXX                   // write only if present
	fExpire               // keep the value, set ttl (EXPIRE, PERSIST)
	fPersist              // only if the key has a ttl; reply 1/0
)

// op is one command of a batch.
type op struct {
	kind  kind
	proto uint8
	flags uint8
	round uint8
	// imm0, imm1 locate the reply in conn.imm once known.
	imm0, imm1 int32
	// first, n locate the op's items in the current round.
	first, n int32
	// kRMW: key and new value (aliasing the read buffer for the batch),
	// the value read, and the ttl to write.
	key, val []byte
	old      []byte
	absent   bool
	ttl      time.Duration
	// kGetRange: the indexes asked for.
	lo, hi int64
}

// plan parses the command c.args[a:b] and adds it to the batch: an
// immediate reply, or kv items.
func (c *conn) plan(a, b int32) {
	args := c.args[a:b:b]
	c.ops = append(c.ops, op{proto: uint8(c.proto)})
	o := &c.ops[len(c.ops)-1]
	name := args[0]
	low := c.lower[:0]
	if len(name) <= len(c.lower) {
		for _, ch := range name {
			if 'A' <= ch && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			low = append(low, ch)
		}
	}
	cmd := commands[string(low)]
	switch {
	case cmd == nil:
		c.errorf(o, "ERR unknown command '%s', with args beginning with: %s", trunc(name, 128), argList(args[1:]))
	case !c.authed && !cmd.noAuth:
		c.replyErr(o, "NOAUTH Authentication required.")
	case cmd.arity > 0 && len(args) != cmd.arity || cmd.arity < 0 && len(args) < -cmd.arity:
		c.errorf(o, "ERR wrong number of arguments for '%s' command", cmd.name)
	default:
		cmd.plan(c, o, args)
	}
}

// trunc returns at most n bytes of b as a string.
func trunc(b []byte, n int) string { return string(b[:min(len(b), n)]) }

// argList formats arguments as Redis's unknown-command error does.
func argList(args [][]byte) string {
	var sb []byte
	for _, a := range args {
		if len(sb) >= 128 {
			break
		}
		sb = append(sb, '\'')
		sb = append(sb, a[:min(len(a), 128-len(sb))]...)
		sb = append(sb, "' "...)
	}
	return string(sb)
}

// ---- immediate replies ----

// begin starts o's immediate reply in c.imm with o's protocol.
func (c *conn) begin(o *op) {
	o.kind = kImm
	o.imm0 = int32(c.imm.Len())
	c.imm.Proto = int(o.proto)
}

// end closes o's immediate reply.
func (c *conn) end(o *op) { o.imm1 = int32(c.imm.Len()) }

func (c *conn) replyErr(o *op, msg string) {
	c.begin(o)
	c.imm.Error(msg)
	c.end(o)
}

func (c *conn) errorf(o *op, format string, a ...any) { c.replyErr(o, fmt.Sprintf(format, a...)) }

func (c *conn) status(o *op, s string) {
	c.begin(o)
	c.imm.Status(s)
	c.end(o)
}

func (c *conn) intReply(o *op, n int64) {
	c.begin(o)
	c.imm.Int(n)
	c.end(o)
}

func (c *conn) syntaxErr(o *op) { c.replyErr(o, "ERR syntax error") }

func (c *conn) notInt(o *op) { c.replyErr(o, "ERR value is not an integer or out of range") }

// ---- kv items ----

// check returns the limit error of key and values, or nil.
func (c *conn) check(key []byte, vals ...[]byte) error {
	if err := c.s.cfg.Limits.CheckKey(key); err != nil {
		return err
	}
	for _, v := range vals {
		if err := c.s.cfg.Limits.CheckValue(v); err != nil {
			return err
		}
	}
	return nil
}

// add appends an item for req to *items as one of o's items. The item and
// its payload are carved from chunks (newItem, alloc) and own their bytes:
// the node may keep a write's item after the batch (replication, re-sends).
func (c *conn) add(items *[]*nsv1.Item, o *op, req *kv.Request) {
	if o.n == 0 {
		o.first = int32(len(*items))
	}
	o.n++
	// What AppendBinary asks slices.Grow for: fields, their lengths, varints.
	n := len(req.Key) + len(req.Value) + len(req.Expected) + 3 + 6*binary.MaxVarintLen64
	payload, err := req.AppendBinary(c.alloc(n))
	if err != nil {
		panic("respserver: encoding a kv request: " + err.Error()) // ttls are checked before
	}
	// n is a bound; the encoding is usually much shorter (a GET's by ~60
	// bytes). Give the rest back to the chunk, and cap the payload so that
	// nothing can append into the bytes handed out next.
	c.unalloc(n, len(payload))
	payload = payload[:len(payload):len(payload)]
	var lb [binary.MaxVarintLen64]byte
	off := 3 + binary.PutUvarint(lb[:], uint64(len(req.Key)))
	end := off + len(req.Key)
	it := c.newItem()
	it.Service, it.Key, it.Payload, it.DeadlineUnixNano = transport.KVServiceName, payload[off:end:end], payload, c.deadline
	*items = append(*items, it)
}

// Chunk sizes of newItem and alloc.
const (
	itemChunk  = 64
	byteChunk  = 8 << 10
	byteDirect = 1 << 10 // larger payloads get their own allocation
)

// newItem returns a zero item from the connection's current chunk. Items
// are handed out once and never reused; a chunk is garbage once the node
// holds none of its items.
func (c *conn) newItem() *nsv1.Item {
	if len(c.itemChunk) == 0 {
		c.itemChunk = make([]nsv1.Item, itemChunk)
	}
	it := &c.itemChunk[0]
	c.itemChunk = c.itemChunk[1:]
	return it
}

// alloc returns an empty slice with capacity n, carved from the current
// byte chunk (for small n), handed out once and never reused.
func (c *conn) alloc(n int) []byte {
	if n > byteDirect {
		return make([]byte, 0, n)
	}
	if cap(c.byteChunk)-len(c.byteChunk) < n {
		c.byteChunk = make([]byte, 0, byteChunk)
	}
	l := len(c.byteChunk)
	c.byteChunk = c.byteChunk[:l+n]
	return c.byteChunk[l : l : l+n]
}

// unalloc gives back to the chunk what the last alloc(n) reserved beyond
// the used bytes it was filled with; call it before any other alloc. (A
// large n got its own allocation: nothing to give back.)
func (c *conn) unalloc(n, used int) {
	if n <= byteDirect && used < n {
		c.byteChunk = c.byteChunk[:len(c.byteChunk)-(n-used)]
	}
}

// run dispatches the batch's items, then the further rounds of its
// read-modify-write ops, and writes every reply in order into c.wr.
func (c *conn) run() {
	s := c.s
	var res0 []*nsv1.Result
	if len(c.items) > 0 {
		s.batches.Add(1)
		res0 = s.cfg.Backend.Dispatch(s.ctx, c.items, false)
		res := res0
		var next []*nsv1.Item
		for round := 0; ; round++ {
			next = next[:0]
			for i := range c.ops {
				o := &c.ops[i]
				if o.kind == kRMW && int(o.round) == round {
					c.step(o, res, &next)
				}
			}
			if len(next) == 0 {
				break
			}
			res = s.cfg.Backend.Dispatch(s.ctx, next, false)
		}
		clear(c.items)
	}
	for i := range c.ops {
		c.reply(&c.ops[i], res0)
	}
}

// result decodes an item's result.
func result(r *nsv1.Result) (kv.Response, error) {
	if err := transport.ErrorFromResult(r); err != nil {
		return kv.Response{}, err
	}
	return kv.DecodeResponse(r.GetPayload())
}

// step advances a read-modify-write op with the result of its round: a
// read, then a compare-and-swap against the value read. A swap that fails
// (the key changed in between) answers with the current value, so the next
// swap is tried against it at once (PERSIST, which needs the ttl, reads
// again). o.round counts the rounds.
func (c *conn) step(o *op, res []*nsv1.Result, next *[]*nsv1.Item) {
	rs := res[o.first]
	read := o.round == 0 || o.flags&fPersist != 0 && o.round%2 == 0
	o.round++
	o.n = 0
	r, err := result(rs)
	if read {
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			c.finishErr(o, err)
			return
		}
		c.swap(o, err != nil, r.Value, r.TTL, next)
		return
	}
	switch {
	case err != nil:
		c.finishErr(o, err)
	case r.Swapped:
		c.finish(o, true)
	case o.round >= maxRounds:
		c.replyErr(o, fmt.Sprintf("TRYAGAIN ns: the key changed %d times during a read-modify-write; try again", o.round))
	case o.flags&fPersist != 0:
		c.add(next, o, &kv.Request{Op: kv.OpGet, Key: o.key})
	default:
		c.swap(o, !r.Found, r.Value, -1, next)
	}
}

// swap queues o's compare-and-swap against the value just seen (absent, or
// old with ttl; ttl < 0 when unknown), or finishes o when nothing is to be
// written.
func (c *conn) swap(o *op, absent bool, old []byte, ttl time.Duration, next *[]*nsv1.Item) {
	o.absent, o.old = absent, old
	switch {
	case absent && o.flags&(fExpire|fXX) != 0, o.flags&fPersist != 0 && ttl == 0:
		c.finish(o, false)
	case absent:
		c.add(next, o, &kv.Request{Op: kv.OpCompareAndSwap, Key: o.key, Value: o.val, ExpectAbsent: true, TTL: o.ttl})
	case o.flags&fExpire != 0:
		c.add(next, o, &kv.Request{Op: kv.OpCompareAndSwap, Key: o.key, Value: old, Expected: old, TTL: o.ttl})
	default:
		c.add(next, o, &kv.Request{Op: kv.OpCompareAndSwap, Key: o.key, Value: o.val, Expected: old, TTL: o.ttl})
	}
}

// finish writes a read-modify-write op's reply; wrote says it swapped.
func (c *conn) finish(o *op, wrote bool) {
	c.begin(o)
	w := &c.imm
	switch {
	case o.flags&fReplyOld != 0 && o.absent:
		w.Null()
	case o.flags&fReplyOld != 0:
		w.Bulk(o.old)
	case o.flags&fReplyOK != 0 && wrote:
		w.Status("OK")
	case o.flags&fReplyOK != 0:
		w.Null()
	case wrote:
		w.Int(1)
	default:
		w.Int(0)
	}
	c.end(o)
}

func (c *conn) finishErr(o *op, err error) {
	c.begin(o)
	c.imm.Error(errMessage(err))
	c.end(o)
}

// reply writes o's reply to c.wr.
func (c *conn) reply(o *op, res []*nsv1.Result) {
	w := &c.wr
	w.Proto = int(o.proto)
	if o.kind == kImm || o.kind == kRMW {
		w.Raw(c.imm.Bytes()[o.imm0:o.imm1])
		return
	}
	items := res[o.first : o.first+o.n]
	// Multi-key commands: the first error is the reply.
	for _, r := range items {
		if err := transport.ErrorFromResult(r); err != nil && !errors.Is(err, kv.ErrNotFound) {
			w.Error(errMessage(err))
			return
		}
	}
	switch o.kind {
	case kMGet:
		w.Array(len(items))
		for _, r := range items {
			if v, err := result(r); err != nil {
				w.Null()
			} else {
				w.Bulk(v.Value)
			}
		}
		return
	case kOK:
		w.Status("OK")
		return
	case kDel, kExists:
		var n int64
		for _, r := range items {
			if v, err := result(r); err == nil && (o.kind == kExists || v.Found) {
				n++
			}
		}
		w.Int(n)
		return
	}
	v, err := result(items[0])
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		w.Error(errMessage(err))
		return
	}
	absent := err != nil
	switch o.kind {
	case kGet:
		if absent {
			w.Null()
		} else {
			w.Bulk(v.Value)
		}
	case kSetNX:
		switch {
		case o.flags&fReplyOld != 0 && v.Swapped:
			w.Null()
		case o.flags&fReplyOld != 0:
			w.Bulk(v.Value)
		case v.Swapped:
			w.Status("OK")
		default:
			w.Null()
		}
	case kSetNXI, kCAS:
		if v.Swapped {
			w.Int(1)
		} else {
			w.Int(0)
		}
	case kIncr:
		w.Int(v.Counter)
	case kStrlen:
		w.Int(int64(len(v.Value)))
	case kGetRange:
		w.Bulk(getRange(v.Value, o.lo, o.hi))
	case kTTL, kPTTL:
		switch {
		case absent:
			w.Int(-2)
		case v.TTL == 0:
			w.Int(-1)
		case o.kind == kTTL:
			w.Int(int64((v.TTL + 500*time.Millisecond) / time.Second))
		default:
			w.Int(int64((v.TTL + 500*time.Microsecond) / time.Millisecond))
		}
	case kType:
		if absent {
			w.Status("none")
		} else {
			w.Status("string")
		}
	}
}

// getRange returns b[lo:hi+1] with Redis's GETRANGE rules: negative
// indexes count from the end, both are clamped to the value, and an empty
// range is empty.
func getRange(b []byte, lo, hi int64) []byte {
	n := int64(len(b))
	if lo < 0 && hi < 0 && lo > hi {
		return nil
	}
	if lo < 0 {
		lo += n
	}
	if hi < 0 {
		hi += n
	}
	lo, hi = max(lo, 0), max(hi, 0)
	hi = min(hi, n-1)
	if lo > hi || n == 0 {
		return nil
	}
	return b[lo : hi+1]
}

// errMessage maps an ns error to a Redis error reply: Redis's own wording
// where Redis has the same error, else a code clients understand (TRYAGAIN
// for "not applied, retry", BUSY for backpressure) and ns's message.
func errMessage(err error) string {
	var le *transport.LimitError
	switch {
	case errors.Is(err, kv.ErrNotInteger):
		return "ERR value is not an integer or out of range"
	case errors.Is(err, kv.ErrOverflow):
		return "ERR increment or decrement would overflow"
	case errors.Is(err, kv.ErrMemoryFull):
		// Redis's noeviction wording, then ns's message naming the limit.
		return "OOM command not allowed when used memory > 'maxmemory' (ns: " + err.Error() + ")"
	case errors.As(err, &le):
		return fmt.Sprintf("ERR ns limit %s exceeded: got %d, max %d (send less, or raise the node's --%s)", le.Limit, le.Size, le.Max, le.Limit)
	case errors.Is(err, transport.ErrKeyEmpty):
		return "ERR ns does not accept the empty key"
	case errors.Is(err, transport.ErrBackpressure):
		return "BUSY ns backpressure: " + err.Error()
	case errors.Is(err, transport.ErrMoved), errors.Is(err, transport.ErrNotOwner), errors.Is(err, transport.ErrTooManyHops),
		errors.Is(err, transport.ErrLeaving), errors.Is(err, transport.ErrUnavailable):
		return "TRYAGAIN ns: " + err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "ERR ns timeout (the write may or may not have been applied): " + err.Error()
	}
	return "ERR ns: " + err.Error()
}

// parseInt parses a decimal int64 the way Redis's string2ll does: an
// optional minus, no plus, no leading zeros, no spaces.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 || (len(b) > 1 && b[0] == '0') || bytes.HasPrefix(b, []byte("-0")) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil && b[0] != '+'
}
