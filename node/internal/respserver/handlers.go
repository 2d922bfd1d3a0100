package respserver

import (
	"fmt"
	"os"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nothingshared/ns/kv"
)

// RedisVersion is the Redis version ns reports (HELLO, INFO): the one whose
// commands and replies it follows.
const RedisVersion = "7.2.0"

func (c *conn) ping(o *op, args [][]byte) {
	switch len(args) {
	case 1:
		c.status(o, "PONG")
	case 2:
		c.begin(o)
		c.imm.Bulk(args[1])
		c.end(o)
	default:
		c.errorf(o, "ERR wrong number of arguments for 'ping' command")
	}
}

func (c *conn) echo(o *op, args [][]byte) {
	c.begin(o)
	c.imm.Bulk(args[1])
	c.end(o)
}

func (c *conn) quitCmd(o *op, _ [][]byte) {
	c.status(o, "OK")
	c.quit = true
}

func (c *conn) selectDB(o *op, args [][]byte) {
	n, ok := parseInt(args[1])
	switch {
	case !ok:
		c.notInt(o)
	case n != 0:
		c.replyErr(o, "ERR DB index is out of range")
	default:
		c.status(o, "OK")
	}
}

func (c *conn) multi(o *op, args [][]byte) {
	c.errorf(o, "ERR %s is not supported by ns: keys live on different partitions with no transaction across them (use NS.CAS for a conditional write)",
		strings.ToUpper(string(args[0])))
}

// checkPassword checks a password against the node's tokens.
func (c *conn) checkPassword(pass []byte) bool {
	return c.s.cfg.Tokens != nil && c.s.cfg.Tokens.Valid(string(pass))
}

func (c *conn) auth(o *op, args [][]byte) {
	if len(args) > 3 {
		c.syntaxErr(o)
		return
	}
	if c.s.cfg.Tokens == nil {
		c.replyErr(o, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		return
	}
	if !c.checkPassword(args[len(args)-1]) {
		c.replyErr(o, "WRONGPASS invalid username-password pair or user is disabled.")
		return
	}
	c.authed = true
	c.status(o, "OK")
}

func (c *conn) hello(o *op, args [][]byte) {
	proto := c.proto
	if len(args) > 1 {
		v, ok := parseInt(args[1])
		if !ok {
			c.replyErr(o, "ERR Protocol version is not an integer or out of range")
			return
		}
		if v != 2 && v != 3 {
			c.replyErr(o, "NOPROTO unsupported protocol version")
			return
		}
		proto = int(v)
	}
	authed := c.authed
	var name []byte
	setName := false
	for i := 2; i < len(args); i++ {
		switch opt := strings.ToLower(string(args[i])); {
		case opt == "auth" && i+2 < len(args):
			if !c.checkPassword(args[i+2]) {
				c.replyErr(o, "WRONGPASS invalid username-password pair or user is disabled.")
				return
			}
			authed = true
			i += 2
		case opt == "setname" && i+1 < len(args):
			name, setName = args[i+1], true
			i++
		default:
			c.errorf(o, "ERR Syntax error in HELLO option '%s'", args[i])
			return
		}
	}
	if !authed {
		c.replyErr(o, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if setName && !validName(name) {
		c.replyErr(o, "ERR Client names cannot contain spaces, newlines or special characters.")
		return
	}
	c.authed = true
	if setName {
		c.name = string(name)
	}
	c.proto = proto
	o.proto = uint8(proto)
	c.begin(o)
	w := &c.imm
	w.Map(7)
	w.BulkString("server")
	w.BulkString("redis")
	w.BulkString("version")
	w.BulkString(RedisVersion)
	w.BulkString("proto")
	w.Int(int64(proto))
	w.BulkString("id")
	w.Int(c.id)
	w.BulkString("mode")
	w.BulkString(c.s.mode())
	w.BulkString("role")
	w.BulkString("master")
	w.BulkString("modules")
	w.Array(0)
	c.end(o)
}

// validName reports whether a client name has no spaces or special
// characters, as Redis requires.
func validName(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

func (c *conn) client(o *op, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	switch {
	case sub == "setname" && len(args) == 3:
		if !validName(args[2]) {
			c.replyErr(o, "ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.name = string(args[2])
		c.status(o, "OK")
	case sub == "getname" && len(args) == 2:
		c.begin(o)
		if c.name == "" {
			c.imm.Null()
		} else {
			c.imm.BulkString(c.name)
		}
		c.end(o)
	case sub == "id" && len(args) == 2:
		c.intReply(o, c.id)
	case sub == "setinfo" && len(args) == 4:
		switch attr := strings.ToLower(string(args[2])); attr {
		case "lib-name", "lib-ver":
			if !validName(args[3]) {
				c.errorf(o, "ERR %s cannot contain spaces, newlines or special characters.", attr)
				return
			}
			if attr == "lib-name" {
				c.libName = string(args[3])
			} else {
				c.libVer = string(args[3])
			}
			c.status(o, "OK")
		default:
			c.errorf(o, "ERR Unrecognized option '%s'", args[2])
		}
	case sub == "info" && len(args) == 2:
		c.begin(o)
		c.imm.BulkString(c.infoLine())
		c.end(o)
	case sub == "setname" || sub == "getname" || sub == "id" || sub == "setinfo" || sub == "info":
		c.errorf(o, "ERR wrong number of arguments for 'client|%s' command", sub)
	default:
		c.errorf(o, "ERR unknown subcommand '%s'. Try CLIENT HELP.", trunc(args[1], 128))
	}
}

func (c *conn) infoLine() string {
	return fmt.Sprintf("id=%d addr=%s laddr=%s name=%s db=0 resp=%d lib-name=%s lib-ver=%s\n",
		c.id, c.nc.RemoteAddr(), c.nc.LocalAddr(), c.name, c.proto, c.libName, c.libVer)
}

// ---- strings ----

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

func (c *conn) dbsize(o *op, _ [][]byte) {
	n, err := c.s.dbsize()
	if err != nil {
		c.replyErr(o, "ERR "+err.Error())
		return
	}
	c.intReply(o, n)
}

func (c *conn) info(o *op, args [][]byte) {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := len(want) == 0 || want["all"] || want["default"] || want["everything"]
	s := c.s
	var b strings.Builder
	section := func(name string, lines ...string) {
		if !all && !want[strings.ToLower(name)] {
			return
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + name + "\r\n")
		for _, l := range lines {
			b.WriteString(l + "\r\n")
		}
	}
	port := ""
	if _, p, err := splitPort(c.nc.LocalAddr().String()); err == nil {
		port = p
	}
	up := time.Since(s.started)
	section("Server",
		"redis_version:"+RedisVersion,
		"ns_version:"+s.cfg.Version,
		"ns_node_id:"+s.cfg.Backend.NodeID(),
		"redis_mode:"+s.mode(),
		"os:"+runtime.GOOS,
		"arch_bits:64",
		"process_id:"+strconv.Itoa(os.Getpid()),
		"tcp_port:"+port,
		"uptime_in_seconds:"+strconv.FormatInt(int64(up/time.Second), 10),
		"uptime_in_days:"+strconv.FormatInt(int64(up/(24*time.Hour)), 10))
	st := s.Stats()
	section("Clients",
		"connected_clients:"+strconv.FormatInt(st.Connections, 10),
		"maxclients:"+strconv.Itoa(s.cfg.MaxConnections))
	section("Memory", memoryLines(s.cfg.Backend)...)
	section("Stats",
		"total_connections_received:"+strconv.FormatUint(st.Accepted, 10),
		"total_commands_processed:"+strconv.FormatUint(st.Commands, 10),
		"rejected_connections:"+strconv.FormatUint(st.Rejected, 10),
		"ns_batches_dispatched:"+strconv.FormatUint(st.Batches, 10))
	section("Replication", "role:master", "connected_slaves:0")
	var ks []string
	if n, err := s.dbsize(); err == nil && n > 0 {
		ks = append(ks, fmt.Sprintf("db0:keys=%d,expires=0,avg_ttl=0", n))
	}
	section("Keyspace", ks...)
	section("Cluster", "cluster_enabled:"+map[bool]string{false: "0", true: "1"}[s.cfg.Cluster])
	c.begin(o)
	c.imm.BulkString(b.String())
	c.end(o)
}

// memoryLines is INFO's Memory section, in Redis's field names: what the
// backend's memory accounting holds (used_memory) and its limit
// (maxmemory, noeviction: ns never evicts), the process's resident set
// (used_memory_rss, where /proc tells it).
func memoryLines(b Backend) []string {
	var ls, limit []string
	if m, ok := b.(MemoryReporter); ok {
		used, max := m.Memory()
		ls = append(ls, "used_memory:"+strconv.FormatInt(used, 10), "used_memory_human:"+humanBytes(used))
		limit = []string{"maxmemory:" + strconv.FormatInt(max, 10), "maxmemory_human:" + humanBytes(max), "maxmemory_policy:noeviction"}
	}
	if rss, ok := processRSS(); ok {
		ls = append(ls, "used_memory_rss:"+strconv.FormatInt(rss, 10), "used_memory_rss_human:"+humanBytes(rss))
	}
	ls = append(ls, limit...)
	return append(ls, "mem_allocator:"+runtime.Version())
}

// humanBytes is Redis's *_human form: 1023B, 1.50K, 2.00M, 3.25G.
func humanBytes(n int64) string {
	const k = 1024
	switch {
	case n < k:
		return strconv.FormatInt(n, 10) + "B"
	case n < k*k:
		return strconv.FormatFloat(float64(n)/k, 'f', 2, 64) + "K"
	case n < k*k*k:
		return strconv.FormatFloat(float64(n)/(k*k), 'f', 2, 64) + "M"
	default:
		return strconv.FormatFloat(float64(n)/(k*k*k), 'f', 2, 64) + "G"
	}
}

// processRSS is the process's resident set in bytes, from /proc/self/statm
// (Linux); false elsewhere.
func processRSS() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// mode is Redis's server mode: standalone or cluster.
func (s *Server) mode() string {
	if s.cfg.Cluster {
		return "cluster"
	}
	return "standalone"
}

// dbsize is DBSIZE: the cluster's keys, or in cluster mode this node's.
func (s *Server) dbsize() (int64, error) {
	if s.cfg.Cluster {
		return s.cfg.Backend.(ClusterBackend).LocalKeys(), nil
	}
	return s.cfg.Backend.DBSize()
}

func splitPort(addr string) (string, string, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", "", fmt.Errorf("no port in %q", addr)
	}
	return addr[:i], addr[i+1:], nil
}

// configParams are the answers of CONFIG GET: what redis-benchmark and
// common clients ask for.
func (c *conn) configParams() map[string]string {
	return map[string]string{
		"save":               "",
		"appendonly":         "no",
		"databases":          "1",
		"maxclients":         strconv.Itoa(c.s.cfg.MaxConnections),
		"timeout":            strconv.FormatInt(int64(c.s.cfg.IdleTimeout/time.Second), 10),
		"proto-max-bulk-len": strconv.Itoa(c.s.lim.MaxBulkBytes),
		"maxmemory":          "0",
		"cluster-enabled":    map[bool]string{false: "no", true: "yes"}[c.s.cfg.Cluster],
	}
}

func (c *conn) config(o *op, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	switch sub {
	case "get":
		if len(args) < 3 {
			c.errorf(o, "ERR wrong number of arguments for 'config|get' command")
			return
		}
		params := c.configParams()
		var names []string
		for name := range params {
			for _, pat := range args[2:] {
				if ok, _ := path.Match(strings.ToLower(string(pat)), name); ok {
					names = append(names, name)
					break
				}
			}
		}
		sort.Strings(names)
		c.begin(o)
		c.imm.Map(len(names))
		for _, n := range names {
			c.imm.BulkString(n)
			c.imm.BulkString(params[n])
		}
		c.end(o)
	case "set", "resetstat", "rewrite":
		c.errorf(o, "ERR CONFIG %s is not supported by ns: configure nsnode with its flags", strings.ToUpper(sub))
	default:
		c.errorf(o, "ERR unknown subcommand '%s'. Try CONFIG HELP.", trunc(args[1], 128))
	}
}

func (c *conn) commandCmd(o *op, args [][]byte) {
	sub := ""
	if len(args) > 1 {
		sub = strings.ToLower(string(args[1]))
	}
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	switch sub {
	case "":
		c.begin(o)
		c.imm.Array(len(names))
		for _, n := range names {
			c.commandInfo(commands[n])
		}
		c.end(o)
	case "count":
		c.intReply(o, int64(len(commands)))
	case "list":
		c.begin(o)
		c.imm.Array(len(names))
		for _, n := range names {
			c.imm.BulkString(n)
		}
		c.end(o)
	case "info":
		c.begin(o)
		c.imm.Array(len(args) - 2)
		for _, a := range args[2:] {
			if cmd := commands[strings.ToLower(string(a))]; cmd != nil {
				c.commandInfo(cmd)
			} else {
				c.imm.NullArray()
			}
		}
		c.end(o)
	case "docs":
		// No documentation: redis-cli falls back to its own help.
		c.begin(o)
		c.imm.Map(0)
		c.end(o)
	default:
		c.errorf(o, "ERR unknown subcommand '%s'. Try COMMAND HELP.", trunc(args[1], 128))
	}
}

// commandInfo writes a command's COMMAND INFO entry (Redis 7's ten fields).
func (c *conn) commandInfo(cmd *command) {
	w := &c.imm
	w.Array(10)
	w.BulkString(cmd.name)
	w.Int(int64(cmd.arity))
	w.Set(len(cmd.flags))
	for _, f := range cmd.flags {
		w.Status(f)
	}
	w.Int(int64(cmd.first))
	w.Int(int64(cmd.last))
	w.Int(int64(cmd.step))
	w.Set(0) // ACL categories
	w.Set(0) // tips
	w.Array(0)
	w.Array(0)
}
