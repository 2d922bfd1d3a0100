package respserver

import (
	"strconv"
	"strings"

	"github.com/nothingshared/ns/kv"
)

// This file holds the commands built on the kv operations that act on
// more than a read or a write of one key: GETDEL, APPEND, MSETNX, SCAN and
// FLUSHALL (docs/resp.md).

// getdel handles GETDEL key: one kv getdel, atomic in the owning worker.
func (c *conn) getdel(o *op, args [][]byte) {
	if err := c.check(args[1]); err != nil {
		c.finishErr(o, err)
		return
	}
	o.kind = kGet
	c.add(&c.items, o, &kv.Request{Op: kv.OpGetDel, Key: args[1]})
}

// appendCmd handles APPEND key value: one kv append, bounded by
// max-value-bytes (the value it makes may be no longer than a SET's).
func (c *conn) appendCmd(o *op, args [][]byte) {
	if err := c.check(args[1], args[2]); err != nil {
		c.finishErr(o, err)
		return
	}
	o.kind = kAppend
	c.add(&c.items, o, &kv.Request{Op: kv.OpAppend, Key: args[1], Value: args[2], Delta: int64(c.s.cfg.Limits.MaxValueBytes)})
}

// msetnx handles MSETNX key value [key value ...]: one kv msetnx, atomic,
// when every key is in one partition; refused otherwise (docs/resp.md).
// Its keys and values together are bounded by max-value-bytes: they travel
// as the value of one kv item.
func (c *conn) msetnx(o *op, args [][]byte) {
	if len(args)%2 != 1 {
		c.errorf(o, "ERR wrong number of arguments for 'msetnx' command")
		return
	}
	if !c.keys(o, args[1:], 2) {
		return
	}
	b := c.s.cfg.Backend
	p := b.PartitionOf(args[1])
	n := 0
	for i := 1; i < len(args); i += 2 {
		if b.PartitionOf(args[i]) != p {
			c.errorf(o, "ERR MSETNX keys %s and %s are in different partitions: ns applies MSETNX atomically within one partition only (give the keys one {hash tag} in cluster mode, or use MSET)",
				quoteArg(args[1]), quoteArg(args[i]))
			return
		}
		n += len(args[i]) + len(args[i+1]) + 2*10
	}
	pairs := c.alloc(n)
	for i := 1; i < len(args); i += 2 {
		pairs = kv.AppendPair(pairs, args[i], args[i+1])
	}
	if max := c.s.cfg.Limits.MaxValueBytes; len(pairs) > max {
		c.errorf(o, "ERR ns limit max-value-bytes exceeded: got %d, max %d (MSETNX's keys and values together; send fewer, or raise the node's --max-value-bytes)", len(pairs), max)
		return
	}
	o.kind = kSetNXI
	c.add(&c.items, o, &kv.Request{Op: kv.OpMSetNX, Key: args[1], Value: pairs})
}

// quoteArg quotes a key for an error message, truncated.
func quoteArg(b []byte) string { return strconv.Quote(trunc(b, 64)) }

// probes returns, for each partition, a key that routes to it (nil for a
// partition no key maps to), computed once: SCAN and FLUSHALL address a
// partition through one.
func (s *Server) probes() [][]byte {
	s.probeOnce.Do(func() {
		b := s.cfg.Backend
		n := b.Partitions()
		s.probeKeys = make([][]byte, n)
		left := n
		// Enough tries to cover every partition a hash reaches (the coupon
		// collector needs about n ln n); a partition no key maps to (more
		// partitions than cluster slots) stays nil.
		for i := 0; left > 0 && i < 64*n+1<<16; i++ {
			k := strconv.AppendInt([]byte("ns-partition-probe:"), int64(i), 10)
			if p := b.PartitionOf(k); s.probeKeys[p] == nil {
				s.probeKeys[p] = k
				left--
			}
		}
	})
	return s.probeKeys
}

// SCAN cursors: the partition in the top bits, the position in it (kv's
// scan position) in the low kv.ScanBits bits. ring.MaxPartitions (1<<20)
// fits.
const scanPosMask = 1<<kv.ScanBits - 1

// scan handles SCAN cursor [MATCH pattern] [COUNT n] [TYPE t]: one page of
// one partition, from the cursor's position; MATCH filters that page, as in
// Redis, so a page may come back empty with a non-zero cursor.
func (c *conn) scan(o *op, args [][]byte) {
	cursor, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		c.replyErr(o, "ERR invalid cursor")
		return
	}
	count := int64(10)
	var pattern []byte
	none := false
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			c.syntaxErr(o)
			return
		}
		switch strings.ToUpper(string(args[i])) {
		case "MATCH":
			pattern = args[i+1]
			if string(pattern) == "*" {
				pattern = nil
			}
		case "COUNT":
			n, ok := parseInt(args[i+1])
			if !ok {
				c.notInt(o)
				return
			}
			if n < 1 {
				c.syntaxErr(o)
				return
			}
			count = min(n, int64(c.s.cfg.Limits.MaxBatch))
		case "TYPE":
			none = !strings.EqualFold(string(args[i+1]), "string")
		default:
			c.syntaxErr(o)
			return
		}
	}
	probes := c.s.probes()
	p := cursor >> kv.ScanBits
	for p < uint64(len(probes)) && (probes[p] == nil || !c.owns(int(p))) {
		p, cursor = p+1, (p+1)<<kv.ScanBits
	}
	if p >= uint64(len(probes)) {
		c.begin(o)
		c.imm.Array(2)
		c.imm.BulkString("0")
		c.imm.Array(0)
		c.end(o)
		return
	}
	o.kind = kScan
	o.lo = int64(p)
	o.key = pattern
	if none {
		o.flags = fNone
	}
	c.add(&c.items, o, &kv.Request{Op: kv.OpScan, Key: probes[p], Delta: count, Cursor: cursor & scanPosMask})
}

// scanReply writes a SCAN reply from the partition's page: the cursor to go
// on from, and the page's keys that match.
func (c *conn) scanReply(o *op, v kv.Response) {
	w := &c.wr
	p := uint64(o.lo)
	var next uint64
	switch {
	case v.Counter != 0:
		next = p<<kv.ScanBits | uint64(v.Counter)
	case p+1 < uint64(c.s.cfg.Backend.Partitions()):
		next = (p + 1) << kv.ScanBits
	}
	keep := func(k []byte) bool { return o.flags&fNone == 0 && (o.key == nil || match(o.key, k)) }
	n := 0
	if err := kv.ScanKeys(v.Value, func(k []byte) {
		if keep(k) {
			n++
		}
	}); err != nil {
		w.Error(errMessage(err))
		return
	}
	w.Array(2)
	var num [20]byte
	w.Bulk(strconv.AppendUint(num[:0], next, 10))
	w.Array(n)
	_ = kv.ScanKeys(v.Value, func(k []byte) {
		if keep(k) {
			w.Bulk(k)
		}
	})
}

// flushall handles FLUSHALL and FLUSHDB [ASYNC|SYNC]: a kv flush of every
// partition, when Config.FlushAll allows it. It is not atomic: partitions
// are flushed one by one, writes that land meanwhile on a partition
// already flushed stay.
func (c *conn) flushall(o *op, args [][]byte) {
	name := strings.ToUpper(string(args[0]))
	if len(args) > 2 || len(args) == 2 && !strings.EqualFold(string(args[1]), "async") && !strings.EqualFold(string(args[1]), "sync") {
		c.syntaxErr(o)
		return
	}
	if !c.s.cfg.FlushAll {
		c.errorf(o, "ERR %s is disabled on ns: it removes every key of the cluster; start nsnode with --resp-flushall to allow it", name)
		return
	}
	o.kind = kOK
	for _, k := range c.s.probes() {
		if k != nil {
			c.add(&c.items, o, &kv.Request{Op: kv.OpFlush, Key: k})
		}
	}
}
