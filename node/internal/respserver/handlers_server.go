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
)

// The commands about the server: DBSIZE, INFO, CONFIG, COMMAND.

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
