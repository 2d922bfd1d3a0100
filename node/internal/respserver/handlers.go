package respserver

import (
	"strings"
	"time"

	"github.com/nothingshared/ns/kv"
)

// RedisVersion is the Redis version ns reports (HELLO, INFO): the one whose
// commands and replies it follows.
const RedisVersion = "7.2.0"

// The commands on keys: GET, SET and their kin, MGET, MSET, DEL, EXISTS,
// INCR, EXPIRE, TTL, CAS. The commands about the connection are in
// handlers_conn.go, those about the server in handlers_server.go.

func (c *conn) get(o *op, args [][]byte) { c.read(o, args[1], kGet) }

// read queues a plain read of key for the commands that answer from its
// value (GET, TTL, TYPE, STRLEN, GETRANGE: kind says which).
func (c *conn) read(o *op, key []byte, k kind) {
	if err := c.check(key); err != nil {
		c.finishErr(o, err)
		return
	}
	o.kind = k
	c.add(&c.items, o, &kv.Request{Op: kv.OpGet, Key: key})
}

// set handles SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL].
func (c *conn) set(o *op, args [][]byte) {
	key, val := args[1], args[2]
	var nx, xx, get bool
	var ttl time.Duration
	expiry := ""
	for i := 3; i < len(args); i++ {
		opt := strings.ToUpper(string(args[i]))
		switch {
		case opt == "NX" && !xx:
			nx = true
		case opt == "XX" && !nx:
			xx = true
		case opt == "GET":
			get = true
		case opt == "KEEPTTL" && expiry == "":
			expiry = opt
		case (opt == "EX" || opt == "PX" || opt == "EXAT" || opt == "PXAT") && expiry == "" && i+1 < len(args):
			expiry = opt
			i++
			n, ok := parseInt(args[i])
			if !ok {
				c.notInt(o)
				return
			}
			unit := time.Second
			if opt[0] == 'P' {
				unit = time.Millisecond
			}
			var okTTL bool
			ttl, okTTL = ttlFrom(n, unit, len(opt) == 4, time.Now())
			if n <= 0 || !okTTL {
				c.replyErr(o, "ERR invalid expire time in 'set' command")
				return
			}
		default:
			c.syntaxErr(o)
			return
		}
	}
	if expiry == "KEEPTTL" {
		c.replyErr(o, "ERR SET KEEPTTL is not supported by ns: the kv store has no atomic write that keeps a key's ttl")
		return
	}
	if err := c.check(key, val); err != nil {
		c.finishErr(o, err)
		return
	}
	switch {
	case nx:
		o.kind = kSetNX
		if get {
			o.flags = fReplyOld
		}
		c.add(&c.items, o, &kv.Request{Op: kv.OpCompareAndSwap, Key: key, Value: val, ExpectAbsent: true, TTL: ttl})
	case xx || get:
		c.rmw(o, key, val, ttl)
		if get {
			o.flags |= fReplyOld
		} else {
			o.flags |= fReplyOK
		}
		if xx {
			o.flags |= fXX
		}
	default:
		o.kind = kOK
		c.add(&c.items, o, &kv.Request{Op: kv.OpPut, Key: key, Value: val, TTL: ttl})
	}
}

// rmw makes o a read-modify-write of key: a read, then a compare-and-swap
// to val with ttl (step).
func (c *conn) rmw(o *op, key, val []byte, ttl time.Duration) {
	o.kind = kRMW
	o.key, o.val, o.ttl = key, val, ttl
	c.add(&c.items, o, &kv.Request{Op: kv.OpGet, Key: key})
}

func (c *conn) setnx(o *op, args [][]byte) {
	if err := c.check(args[1], args[2]); err != nil {
		c.finishErr(o, err)
		return
	}
	o.kind = kSetNXI
	c.add(&c.items, o, &kv.Request{Op: kv.OpCompareAndSwap, Key: args[1], Value: args[2], ExpectAbsent: true})
}

// setex handles SETEX and PSETEX key ttl value.
func (c *conn) setex(o *op, args [][]byte) {
	name := strings.ToLower(string(args[0]))
	n, ok := parseInt(args[2])
	if !ok {
		c.notInt(o)
		return
	}
	unit := time.Second
	if name == "psetex" {
		unit = time.Millisecond
	}
	ttl, ok := ttlFrom(n, unit, false, time.Time{})
	if n <= 0 || !ok {
		c.errorf(o, "ERR invalid expire time in '%s' command", name)
		return
	}
	if err := c.check(args[1], args[3]); err != nil {
		c.finishErr(o, err)
		return
	}
	o.kind = kOK
	c.add(&c.items, o, &kv.Request{Op: kv.OpPut, Key: args[1], Value: args[3], TTL: ttl})
}

func (c *conn) getset(o *op, args [][]byte) {
	if err := c.check(args[1], args[2]); err != nil {
		c.finishErr(o, err)
		return
	}
	c.rmw(o, args[1], args[2], 0)
	o.flags = fReplyOld
}

// keys checks every key and returns false (after replying) if one fails,
// or if there are more than the batch limit.
func (c *conn) keys(o *op, keys [][]byte, stride int) bool {
	if n := (len(keys) + stride - 1) / stride; n > c.s.cfg.Limits.MaxBatch {
		c.errorf(o, "ERR ns limit max-batch exceeded: %d keys in one command, max %d (send fewer, or raise the node's --max-batch)", n, c.s.cfg.Limits.MaxBatch)
		return false
	}
	for i := 0; i < len(keys); i += stride {
		var err error
		if stride == 2 {
			err = c.check(keys[i], keys[i+1])
		} else {
			err = c.check(keys[i])
		}
		if err != nil {
			c.finishErr(o, err)
			return false
		}
	}
	return true
}

func (c *conn) mget(o *op, args [][]byte) {
	if !c.keys(o, args[1:], 1) {
		return
	}
	o.kind = kMGet
	for _, k := range args[1:] {
		c.add(&c.items, o, &kv.Request{Op: kv.OpGet, Key: k})
	}
}

func (c *conn) mset(o *op, args [][]byte) {
	if len(args)%2 != 1 {
		c.errorf(o, "ERR wrong number of arguments for 'mset' command")
		return
	}
	if !c.keys(o, args[1:], 2) {
		return
	}
	o.kind = kOK
	for i := 1; i < len(args); i += 2 {
		c.add(&c.items, o, &kv.Request{Op: kv.OpPut, Key: args[i], Value: args[i+1]})
	}
}

func (c *conn) del(o *op, args [][]byte) {
	if !c.keys(o, args[1:], 1) {
		return
	}
	o.kind = kDel
	for _, k := range args[1:] {
		c.add(&c.items, o, &kv.Request{Op: kv.OpDelete, Key: k})
	}
}

func (c *conn) exists(o *op, args [][]byte) {
	if !c.keys(o, args[1:], 1) {
		return
	}
	o.kind = kExists
	for _, k := range args[1:] {
		c.add(&c.items, o, &kv.Request{Op: kv.OpGet, Key: k})
	}
}

// incr handles INCR, DECR, INCRBY and DECRBY.
func (c *conn) incr(o *op, args [][]byte) {
	name := args[0]
	delta := int64(1)
	if len(args) == 3 {
		d, ok := parseInt(args[2])
		if !ok {
			c.notInt(o)
			return
		}
		delta = d
	}
	if name[0]|0x20 == 'd' {
		if delta == -1<<63 {
			c.replyErr(o, "ERR decrement would overflow")
			return
		}
		delta = -delta
	}
	if err := c.check(args[1]); err != nil {
		c.finishErr(o, err)
		return
	}
	o.kind = kIncr
	c.add(&c.items, o, &kv.Request{Op: kv.OpIncr, Key: args[1], Delta: delta})
}

// expire handles EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT key n.
func (c *conn) expire(o *op, args [][]byte) {
	name := strings.ToLower(string(args[0]))
	if len(args) > 3 {
		c.errorf(o, "ERR %s options NX, XX, GT and LT are not supported by ns: they compare ttls, and the kv store's compare-and-swap compares values only", strings.ToUpper(name))
		return
	}
	n, ok := parseInt(args[2])
	if !ok {
		c.notInt(o)
		return
	}
	unit := time.Second
	if name[0] == 'p' {
		unit = time.Millisecond
	}
	at := strings.HasSuffix(name, "at")
	ttl, ok := ttlFrom(n, unit, at, time.Now())
	if !ok {
		c.errorf(o, "ERR invalid expire time in '%s' command", name)
		return
	}
	if err := c.check(args[1]); err != nil {
		c.finishErr(o, err)
		return
	}
	if !at && n <= 0 {
		ttl = 1 // Redis deletes the key: a write that expires at once
	}
	c.rmw(o, args[1], nil, ttl)
	o.flags = fExpire
}

func (c *conn) persist(o *op, args [][]byte) {
	if err := c.check(args[1]); err != nil {
		c.finishErr(o, err)
		return
	}
	c.rmw(o, args[1], nil, 0)
	o.flags = fExpire | fPersist
}

func (c *conn) ttl(o *op, args [][]byte) {
	k := kTTL
	if args[0][0]|0x20 == 'p' {
		k = kPTTL
	}
	c.read(o, args[1], k)
}

func (c *conn) typeCmd(o *op, args [][]byte) { c.read(o, args[1], kType) }

func (c *conn) strlen(o *op, args [][]byte) { c.read(o, args[1], kStrlen) }

// getrange handles GETRANGE and SUBSTR key start end.
func (c *conn) getrange(o *op, args [][]byte) {
	lo, ok1 := parseInt(args[2])
	hi, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.notInt(o)
		return
	}
	o.lo, o.hi = lo, hi
	c.read(o, args[1], kGetRange)
}

// getex handles GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]: a GET, or a
// read-then-compare-and-swap that keeps the value and sets or clears its
// ttl, answering the value.
func (c *conn) getex(o *op, args [][]byte) {
	if len(args) == 2 {
		c.get(o, args)
		return
	}
	opt := strings.ToUpper(string(args[2]))
	var ttl time.Duration
	switch {
	case opt == "PERSIST" && len(args) == 3:
	case (opt == "EX" || opt == "PX" || opt == "EXAT" || opt == "PXAT") && len(args) == 4:
		n, ok := parseInt(args[3])
		if !ok {
			c.notInt(o)
			return
		}
		unit := time.Second
		if opt[0] == 'P' {
			unit = time.Millisecond
		}
		ttl, ok = ttlFrom(n, unit, len(opt) == 4, time.Now())
		if n <= 0 || !ok {
			c.replyErr(o, "ERR invalid expire time in 'getex' command")
			return
		}
	default:
		c.syntaxErr(o)
		return
	}
	if err := c.check(args[1]); err != nil {
		c.finishErr(o, err)
		return
	}
	c.rmw(o, args[1], nil, ttl)
	o.flags = fExpire | fReplyOld
	if opt == "PERSIST" {
		o.flags |= fPersist
	}
}

func (c *conn) timeCmd(o *op, _ [][]byte) {
	now := time.Now()
	c.begin(o)
	c.imm.Array(2)
	c.imm.BulkInt(now.Unix())
	c.imm.BulkInt(int64(now.Nanosecond() / 1000))
	c.end(o)
}

// cas handles NS.CAS key expected new: 1 if the key held expected and now
// holds new, else 0. It clears the key's ttl, as SET does.
func (c *conn) cas(o *op, args [][]byte) {
	if err := c.check(args[1], args[2], args[3]); err != nil {
		c.finishErr(o, err)
		return
	}
	o.kind = kCAS
	c.add(&c.items, o, &kv.Request{Op: kv.OpCompareAndSwap, Key: args[1], Expected: args[2], Value: args[3]})
}

// ---- server ----
