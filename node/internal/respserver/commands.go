package respserver

import (
	"time"
)

// command is one command ns understands: its Redis metadata (for arity
// checks and COMMAND) and how it is planned into a batch.
type command struct {
	name  string
	arity int // Redis's: n means exactly n arguments (the name included), -n at least n
	flags []string
	first int // first key argument, 0 if none
	last  int // last key argument, -1 for the last argument
	step  int
	plan  func(c *conn, o *op, args [][]byte)
	// noAuth lets the command run before the connection authenticated.
	noAuth bool
}

// commands is every command served, by lower-case name. Filled by init to
// break the reference cycle through COMMAND.
var commands map[string]*command

func init() {
	list := []*command{
		{name: "ping", arity: -1, flags: []string{"fast"}, plan: (*conn).ping},
		{name: "echo", arity: 2, flags: []string{"fast"}, plan: (*conn).echo},
		{name: "hello", arity: -1, flags: []string{"noscript", "loading", "stale", "fast", "no_auth"}, plan: (*conn).hello, noAuth: true},
		{name: "auth", arity: -2, flags: []string{"noscript", "loading", "stale", "fast", "no_auth"}, plan: (*conn).auth, noAuth: true},
		{name: "select", arity: 2, flags: []string{"loading", "stale", "fast"}, plan: (*conn).selectDB},
		{name: "quit", arity: -1, flags: []string{"loading", "stale", "fast", "no_auth"}, plan: (*conn).quitCmd, noAuth: true},
		{name: "get", arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).get},
		{name: "set", arity: -3, flags: []string{"write", "denyoom"}, first: 1, last: 1, step: 1, plan: (*conn).set},
		{name: "setnx", arity: 3, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).setnx},
		{name: "setex", arity: 4, flags: []string{"write", "denyoom"}, first: 1, last: 1, step: 1, plan: (*conn).setex},
		{name: "psetex", arity: 4, flags: []string{"write", "denyoom"}, first: 1, last: 1, step: 1, plan: (*conn).setex},
		{name: "getset", arity: 3, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).getset},
		{name: "mget", arity: -2, flags: []string{"readonly", "fast"}, first: 1, last: -1, step: 1, plan: (*conn).mget},
		{name: "mset", arity: -3, flags: []string{"write", "denyoom"}, first: 1, last: -1, step: 2, plan: (*conn).mset},
		{name: "del", arity: -2, flags: []string{"write"}, first: 1, last: -1, step: 1, plan: (*conn).del},
		{name: "unlink", arity: -2, flags: []string{"write", "fast"}, first: 1, last: -1, step: 1, plan: (*conn).del},
		{name: "exists", arity: -2, flags: []string{"readonly", "fast"}, first: 1, last: -1, step: 1, plan: (*conn).exists},
		{name: "incr", arity: 2, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).incr},
		{name: "decr", arity: 2, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).incr},
		{name: "incrby", arity: 3, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).incr},
		{name: "decrby", arity: 3, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).incr},
		{name: "expire", arity: -3, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).expire},
		{name: "pexpire", arity: -3, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).expire},
		{name: "expireat", arity: -3, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).expire},
		{name: "pexpireat", arity: -3, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).expire},
		{name: "ttl", arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).ttl},
		{name: "pttl", arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).ttl},
		{name: "persist", arity: 2, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).persist},
		{name: "type", arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).typeCmd},
		{name: "dbsize", arity: 1, flags: []string{"readonly", "fast"}, plan: (*conn).dbsize},
		{name: "info", arity: -1, flags: []string{"loading", "stale"}, plan: (*conn).info},
		{name: "client", arity: -2, flags: []string{"loading", "stale"}, plan: (*conn).client},
		{name: "command", arity: -1, flags: []string{"loading", "stale"}, plan: (*conn).commandCmd},
		{name: "config", arity: -2, flags: []string{"loading", "stale"}, plan: (*conn).config},
		{name: "strlen", arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).strlen},
		{name: "getrange", arity: 4, flags: []string{"readonly"}, first: 1, last: 1, step: 1, plan: (*conn).getrange},
		{name: "substr", arity: 4, flags: []string{"readonly"}, first: 1, last: 1, step: 1, plan: (*conn).getrange},
		{name: "getex", arity: -2, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).getex},
		{name: "time", arity: 1, flags: []string{"loading", "stale", "fast"}, plan: (*conn).timeCmd},
		{name: "getdel", arity: 2, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).getdel},
		{name: "append", arity: 3, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).appendCmd},
		{name: "msetnx", arity: -3, flags: []string{"write", "denyoom"}, first: 1, last: -1, step: 2, plan: (*conn).msetnx},
		{name: "scan", arity: -2, flags: []string{"readonly"}, plan: (*conn).scan},
		{name: "flushall", arity: -1, flags: []string{"write"}, plan: (*conn).flushall},
		{name: "flushdb", arity: -1, flags: []string{"write"}, plan: (*conn).flushall},
		{name: "cluster", arity: -2, flags: []string{"stale"}, plan: (*conn).clusterCmd},
		{name: "readonly", arity: 1, flags: []string{"loading", "stale", "fast"}, plan: (*conn).readonlyCmd},
		{name: "readwrite", arity: 1, flags: []string{"loading", "stale", "fast"}, plan: (*conn).readonlyCmd},
		{name: "ns.cas", arity: 4, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, plan: (*conn).cas},
	}
	for _, name := range []string{"multi", "exec", "discard", "watch", "unwatch"} {
		list = append(list, &command{name: name, arity: -1, flags: []string{"noscript", "loading", "stale", "fast"}, plan: (*conn).multi})
	}
	commands = make(map[string]*command, len(list))
	for _, c := range list {
		commands[c.name] = c
	}
}

// maxRounds bounds the read-then-compare-and-swap rounds of one command
// (GETSET, SET XX or GET, EXPIRE, PERSIST) when the key keeps changing.
const maxRounds = 64

// ttlFrom converts a Redis expiry argument to a time to live: unit is the
// duration of one unit, and at says the argument is an absolute unix time.
// ok is false when the argument overflows. A time in the past gives 1ns: the
// write lands and expires at once, as Redis deletes the key.
func ttlFrom(n int64, unit time.Duration, at bool, now time.Time) (time.Duration, bool) {
	if limit := int64(1<<62) / int64(unit); n > limit || n < -limit {
		return 0, false
	}
	d := time.Duration(n) * unit
	if at {
		d = time.Unix(0, 0).Add(d).Sub(now)
	}
	return max(d, 1), true
}
