package node_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nothingshared/ns/internal/clustertest"
	"github.com/nothingshared/ns/internal/tlsutil"
	"github.com/nothingshared/ns/internal/tlsutil/certtest"
	"github.com/nothingshared/ns/node"
	"github.com/nothingshared/ns/ring"
)

// redisClient returns a go-redis client of node i speaking RESP proto.
func redisClient(t *testing.T, c *clustertest.Cluster, i, proto int, password string) *redis.Client {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: c.Nodes[i].RESPAddr(), Protocol: proto, Password: password,
		DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, MaxRetries: -1})
	t.Cleanup(func() { rc.Close() })
	return rc
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestRESPCommands runs every command through go-redis against an
// in-process node, in RESP2 and RESP3.
func TestRESPCommands(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 1})
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			ctx := context.Background()
			rc := redisClient(t, c, 0, proto, "")
			p := fmt.Sprint("p", proto, ":")
			str, i64, b := must[string](t), must[int64](t), must[bool](t)

			if got := str(rc.Ping(ctx).Result()); got != "PONG" {
				t.Fatalf("PING = %q", got)
			}
			if got := str(rc.Echo(ctx, "hi").Result()); got != "hi" {
				t.Fatalf("ECHO = %q", got)
			}
			if _, err := rc.Get(ctx, p+"none").Result(); !errors.Is(err, redis.Nil) {
				t.Fatalf("GET absent: %v, want redis.Nil", err)
			}
			str(rc.Set(ctx, p+"a", "1", 0).Result())
			if got := str(rc.Get(ctx, p+"a").Result()); got != "1" {
				t.Fatalf("GET = %q", got)
			}
			if b(rc.SetNX(ctx, p+"a", "2", 0).Result()) || !b(rc.SetNX(ctx, p+"nx", "2", 0).Result()) {
				t.Fatal("SETNX")
			}
			if b(rc.SetXX(ctx, p+"none", "2", 0).Result()) || !b(rc.SetXX(ctx, p+"a", "3", 0).Result()) {
				t.Fatal("SET XX")
			}
			if got := str(rc.SetArgs(ctx, p+"a", "4", redis.SetArgs{Get: true, TTL: time.Minute}).Result()); got != "3" {
				t.Fatalf("SET GET = %q", got)
			}
			if d := must[time.Duration](t)(rc.TTL(ctx, p+"a").Result()); d != time.Minute {
				t.Fatalf("TTL = %v", d)
			}
			if d := must[time.Duration](t)(rc.PTTL(ctx, p+"a").Result()); d <= 59*time.Second || d > time.Minute {
				t.Fatalf("PTTL = %v", d)
			}
			str(rc.SetArgs(ctx, p+"at", "v", redis.SetArgs{ExpireAt: time.Now().Add(time.Hour)}).Result())
			if d := must[time.Duration](t)(rc.TTL(ctx, p+"at").Result()); d < 59*time.Minute {
				t.Fatalf("TTL after EXAT = %v", d)
			}
			_, err := rc.SetArgs(ctx, p+"a", "5", redis.SetArgs{KeepTTL: true}).Result()
			wantErr(t, err, "KEEPTTL is not supported by ns")
			str(rc.Do(ctx, "SETEX", p+"ex", "3600", "v").Text())
			str(rc.Do(ctx, "PSETEX", p+"px", "100000", "v").Text())
			if d := must[time.Duration](t)(rc.PTTL(ctx, p+"px").Result()); d <= 99*time.Second {
				t.Fatalf("PTTL after PSETEX = %v", d)
			}
			if got := str(rc.Do(ctx, "GETSET", p+"a", "6").Text()); got != "4" {
				t.Fatalf("GETSET = %q", got)
			}
			if d := must[time.Duration](t)(rc.TTL(ctx, p+"a").Result()); d != -1 {
				t.Fatalf("TTL after GETSET = %v, want -1 (no ttl)", d)
			}
			if got := str(rc.GetDel(ctx, p+"a").Result()); got != "6" {
				t.Fatalf("GETDEL = %q", got)
			}
			if _, err := rc.GetDel(ctx, p+"a").Result(); !errors.Is(err, redis.Nil) {
				t.Fatalf("GETDEL of a deleted key: %v, want redis.Nil", err)
			}
			if n := i64(rc.Append(ctx, p+"ap", "ab").Result()); n != 2 {
				t.Fatalf("APPEND to absent = %d", n)
			}
			if n := i64(rc.Append(ctx, p+"ap", "cd").Result()); n != 4 {
				t.Fatalf("APPEND = %d", n)
			}
			if got := str(rc.Get(ctx, p+"ap").Result()); got != "abcd" {
				t.Fatalf("GET after APPEND = %q", got)
			}
			_, err = rc.MSetNX(ctx, p+"m1", "x", p+"m2", "y").Result()
			wantErr(t, err, "are in different partitions")
			_, err = rc.FlushAll(ctx).Result()
			wantErr(t, err, "--resp-flushall")
			str(rc.MSet(ctx, p+"m1", "x", p+"m2", "y").Result())
			vals := must[[]any](t)(rc.MGet(ctx, p+"m1", p+"none", p+"m2").Result())
			if fmt.Sprint(vals) != "[x <nil> y]" {
				t.Fatalf("MGET = %v", vals)
			}
			if n := i64(rc.Exists(ctx, p+"m1", p+"m2", p+"none").Result()); n != 2 {
				t.Fatalf("EXISTS = %d", n)
			}
			if got := str(rc.Type(ctx, p+"m1").Result()); got != "string" {
				t.Fatalf("TYPE = %q", got)
			}
			if got := str(rc.Type(ctx, p+"none").Result()); got != "none" {
				t.Fatalf("TYPE absent = %q", got)
			}
			if n := i64(rc.Del(ctx, p+"m1", p+"none").Result()); n != 1 {
				t.Fatalf("DEL = %d", n)
			}
			if n := i64(rc.Unlink(ctx, p+"m2").Result()); n != 1 {
				t.Fatalf("UNLINK = %d", n)
			}
			if n := i64(rc.Incr(ctx, p+"c").Result()); n != 1 {
				t.Fatalf("INCR = %d", n)
			}
			if n := i64(rc.IncrBy(ctx, p+"c", 41).Result()); n != 42 {
				t.Fatalf("INCRBY = %d", n)
			}
			if n := i64(rc.Decr(ctx, p+"c").Result()); n != 41 {
				t.Fatalf("DECR = %d", n)
			}
			if n := i64(rc.DecrBy(ctx, p+"c", 50).Result()); n != -9 {
				t.Fatalf("DECRBY = %d", n)
			}
			_, err = rc.Incr(ctx, p+"ex").Result()
			wantErr(t, err, "ERR value is not an integer or out of range")
			if !b(rc.Expire(ctx, p+"c", time.Hour).Result()) || b(rc.Expire(ctx, p+"none", time.Hour).Result()) {
				t.Fatal("EXPIRE")
			}
			if n := i64(rc.Incr(ctx, p+"c").Result()); n != -8 {
				t.Fatalf("INCR after EXPIRE = %d (EXPIRE must keep the value)", n)
			}
			if !b(rc.PExpire(ctx, p+"c", time.Hour).Result()) || !b(rc.Persist(ctx, p+"c").Result()) || b(rc.Persist(ctx, p+"c").Result()) {
				t.Fatal("PEXPIRE, PERSIST")
			}
			if !b(rc.ExpireAt(ctx, p+"c", time.Now().Add(-time.Second)).Result()) {
				t.Fatal("EXPIREAT in the past")
			}
			if n := i64(rc.Exists(ctx, p+"c").Result()); n != 0 {
				t.Fatal("a key expired by EXPIREAT in the past still exists")
			}
			str(rc.Set(ctx, p+"s", "Hello World", 0).Result())
			if n := i64(rc.StrLen(ctx, p+"s").Result()); n != 11 {
				t.Fatalf("STRLEN = %d", n)
			}
			if got := str(rc.GetRange(ctx, p+"s", -5, -1).Result()); got != "World" {
				t.Fatalf("GETRANGE = %q", got)
			}
			if got := str(rc.GetEx(ctx, p+"s", time.Hour).Result()); got != "Hello World" {
				t.Fatalf("GETEX = %q", got)
			}
			if d := must[time.Duration](t)(rc.TTL(ctx, p+"s").Result()); d != time.Hour {
				t.Fatalf("TTL after GETEX EX = %v", d)
			}
			if tm := must[time.Time](t)(rc.Time(ctx).Result()); time.Since(tm).Abs() > time.Minute {
				t.Fatalf("TIME = %v", tm)
			}
			if got := i64(rc.Do(ctx, "NS.CAS", p+"ex", "v", "w").Int64()); got != 1 {
				t.Fatalf("NS.CAS = %d", got)
			}
			if got := i64(rc.Do(ctx, "NS.CAS", p+"ex", "v", "z").Int64()); got != 0 {
				t.Fatalf("NS.CAS on a changed value = %d", got)
			}
			str(rc.Do(ctx, "SELECT", "0").Text())
			_, err = rc.Do(ctx, "SELECT", "1").Result()
			wantErr(t, err, "DB index is out of range")
			_, err = rc.Do(ctx, "MULTI").Result()
			wantErr(t, err, "MULTI is not supported by ns")
			_, err = rc.Do(ctx, "GET").Result()
			wantErr(t, err, "ERR wrong number of arguments for 'get' command")
			_, err = rc.Do(ctx, "SET", "k", "v", "NOPE").Result()
			wantErr(t, err, "ERR syntax error")
			_, err = rc.Do(ctx, "HSET", "h", "f", "v").Result()
			wantErr(t, err, "ERR unknown command 'HSET', with args beginning with: 'h' 'f' 'v' ")
			if n := i64(rc.DBSize(ctx).Result()); n < 5 {
				t.Fatalf("DBSIZE = %d", n)
			}
			info := str(rc.Info(ctx).Result())
			for _, want := range []string{"# Server", "redis_version:", "# Clients", "connected_clients:", "# Stats", "# Keyspace", "db0:keys="} {
				if !strings.Contains(info, want) {
					t.Fatalf("INFO lacks %q:\n%s", want, info)
				}
			}
			if got := str(rc.Info(ctx, "clients").Result()); strings.Contains(got, "# Server") {
				t.Fatalf("INFO clients has other sections:\n%s", got)
			}
			// INFO memory: what --max-memory counts (the keys written
			// above take some), its limit and policy, the process's RSS.
			mem := str(rc.Info(ctx, "memory").Result())
			for _, want := range []string{"# Memory", "used_memory_human:", "used_memory_rss:", "maxmemory:", "maxmemory_policy:noeviction"} {
				if !strings.Contains(mem, want) {
					t.Fatalf("INFO memory lacks %q:\n%s", want, mem)
				}
			}
			if used := infoField(mem, "used_memory"); used == "" || used == "0" {
				t.Fatalf("INFO memory: used_memory = %q after writes:\n%s", used, mem)
			}
			str(rc.Do(ctx, "CLIENT", "SETNAME", "tester").Text())
			if got := str(rc.ClientGetName(ctx).Result()); got != "tester" {
				t.Fatalf("CLIENT GETNAME = %q", got)
			}
			if id := i64(rc.ClientID(ctx).Result()); id <= 0 {
				t.Fatalf("CLIENT ID = %d", id)
			}
			if n := i64(rc.Do(ctx, "COMMAND", "COUNT").Int64()); n < 30 {
				t.Fatalf("COMMAND COUNT = %d", n)
			}
			cmds := must[map[string]*redis.CommandInfo](t)(rc.Command(ctx).Result())
			if g := cmds["get"]; g == nil || g.Arity != 2 || !g.ReadOnly {
				t.Fatalf("COMMAND get = %+v", g)
			}
			cfg := must[map[string]string](t)(rc.ConfigGet(ctx, "save").Result())
			if v, ok := cfg["save"]; !ok || v != "" {
				t.Fatalf("CONFIG GET save = %v", cfg)
			}
		})
	}
}

// TestRESPPipeline sends a pipeline of mixed commands and checks every
// reply, in order.
func TestRESPPipeline(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 1})
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		rc := redisClient(t, c, 0, proto, "")
		pipe := rc.Pipeline()
		const n = 200
		sets := make([]*redis.StatusCmd, n)
		incrs := make([]*redis.IntCmd, n)
		gets := make([]*redis.StringCmd, n)
		for i := 0; i < n; i++ {
			k := fmt.Sprintf("pipe%d:%d", proto, i)
			sets[i] = pipe.Set(ctx, k, i, 0)
			incrs[i] = pipe.Incr(ctx, k)
			gets[i] = pipe.Get(ctx, k)
		}
		notInt := fmt.Sprint("pipe-not-int", proto)
		bad := pipe.Incr(ctx, notInt)
		pipe.Set(ctx, notInt, "x", 0)
		bad2 := pipe.Incr(ctx, notInt)
		if _, err := pipe.Exec(ctx); err == nil || !strings.Contains(err.Error(), "not an integer") {
			t.Fatalf("Exec: %v, want the failing INCR's error", err)
		}
		for i := 0; i < n; i++ {
			if sets[i].Err() != nil || incrs[i].Val() != int64(i+1) || gets[i].Val() != fmt.Sprint(i+1) {
				t.Fatalf("reply %d: %v %v %v", i, sets[i].Err(), incrs[i].Val(), gets[i].Val())
			}
		}
		if bad.Err() != nil || bad2.Err() == nil {
			t.Fatalf("INCR results: %v, %v", bad.Err(), bad2.Err())
		}
	}
	fams := scrape(t, c.Nodes[0])
	cmds, batches := value(fams, "ns_resp_commands_total"), value(fams, "ns_resp_batches_total")
	if cmds < 1206 || batches < 1 || batches > cmds/10 {
		t.Fatalf("ns_resp_commands_total %v, ns_resp_batches_total %v: want pipelines in few batches", cmds, batches)
	}
	if conns := value(fams, "ns_resp_connections"); conns < 1 {
		t.Fatalf("ns_resp_connections = %v", conns)
	}
}

// TestRESPAcrossNodes writes through one node and reads through another:
// multi-key commands spread over partitions owned by different nodes.
func TestRESPAcrossNodes(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 3})
	ctx := context.Background()
	w, r := redisClient(t, c, 0, 3, ""), redisClient(t, c, 2, 2, "")
	var kvs []any
	var keys []string
	for i := 0; i < 100; i++ {
		keys = append(keys, fmt.Sprint("x", i))
		kvs = append(kvs, keys[i], fmt.Sprint("v", i))
	}
	if err := w.MSet(ctx, kvs...).Err(); err != nil {
		t.Fatal(err)
	}
	vals, err := r.MGet(ctx, keys...).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != fmt.Sprint("v", i) {
			t.Fatalf("MGET[%d] = %v", i, v)
		}
	}
	if n, err := r.DBSize(ctx).Result(); err != nil || n != 100 {
		t.Fatalf("DBSIZE over three nodes = %d, %v; want 100", n, err)
	}
	if n, err := r.Del(ctx, keys...).Result(); err != nil || n != 100 {
		t.Fatalf("DEL = %d, %v", n, err)
	}
	// Concurrent GETSETs on one key from two nodes: each value is
	// returned by exactly one of them (read-then-compare-and-swap).
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		rc := redisClient(t, c, g%3, 2, "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				old, err := rc.Do(ctx, "GETSET", "gs", fmt.Sprint(g, "-", i)).Text()
				if err != nil && !errors.Is(err, redis.Nil) {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[old]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("GETSET returned %q %d times", v, n)
		}
	}
}

// TestRESPAuthAndShutdown: a node with tokens asks RESP clients for one,
// and its Shutdown closes their connections.
func TestRESPAuthAndShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("tok-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := clustertest.Start(t, clustertest.Config{Nodes: 1, Modify: func(_ int, cfg *node.Config) {
		cfg.Security.AuthTokenFile = path
	}})
	ctx := context.Background()
	_, err := redisClient(t, c, 0, 2, "").Get(ctx, "k").Result()
	wantErr(t, err, "NOAUTH")
	_, err = redisClient(t, c, 0, 3, "wrong").Get(ctx, "k").Result()
	wantErr(t, err, "WRONGPASS")
	for _, proto := range []int{2, 3} {
		rc := redisClient(t, c, 0, proto, "tok-1")
		if err := rc.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatalf("RESP%d with the token: %v", proto, err)
		}
	}
	rc := redisClient(t, c, 0, 2, "tok-1")
	if err := rc.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Nodes[0].Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if err := rc.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Shutdown")
	}
}

// TestRESPTLS: a node with TLS serves RESP over TLS only, with its own
// certificate; a client certificate signed by the CA authenticates.
func TestRESPTLS(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, "ns-ca")
	nf := certtest.Write(t, dir, "n1-", ca.Issue(t, certtest.Leaf{CommonName: "n1", DNS: []string{"ns-peer"}}), ca)
	app := certtest.Write(t, dir, "app-", ca.Issue(t, certtest.Leaf{CommonName: "app"}), ca)
	c := clustertest.Start(t, clustertest.Config{Nodes: 1, Modify: func(_ int, cfg *node.Config) {
		cfg.Security = node.SecurityConfig{TLSCAFile: nf.CA, TLSCertFile: nf.Cert, TLSKeyFile: nf.Key}
	}})
	s, err := tlsutil.New(tlsutil.Config{CAFile: app.CA, CertFile: app.Cert, KeyFile: app.Key})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: c.Nodes[0].RESPAddr(), TLSConfig: s.ClientConfig(), MaxRetries: -1})
	defer rc.Close()
	if err := rc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET over TLS with a client certificate: %v", err)
	}
	plain := redis.NewClient(&redis.Options{Addr: c.Nodes[0].RESPAddr(), MaxRetries: -1, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Fatal("plaintext PING answered by a TLS node")
	}
}

// samePartition returns n keys with prefix that share key0's partition.
func samePartition(tb *ring.Table, key0 string, n int) []string {
	keys := []string{key0}
	for i := 0; len(keys) < n; i++ {
		if k := fmt.Sprint(key0, "-", i); tb.PartitionOf([]byte(k)) == tb.PartitionOf([]byte(key0)) {
			keys = append(keys, k)
		}
	}
	return keys
}

// scanAll pages SCAN through rc with go-redis's iterator and counts each
// key seen.
func scanAll(t *testing.T, rc *redis.Client, match string, count int64) map[string]int {
	t.Helper()
	seen := map[string]int{}
	it := rc.Scan(context.Background(), 0, match, count).Iterator()
	for it.Next(context.Background()) {
		seen[it.Val()]++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return seen
}

// TestRESPKeyspaceSurvivesCrash: APPEND, GETDEL and MSETNX through go-redis
// on three nodes with one backup are replicated like every write: after
// one node crashes, nothing acknowledged is lost. SCAN pages over every
// partition on every node and returns each key once, before and after;
// FLUSHALL, enabled by its flag, empties the cluster.
func TestRESPKeyspaceSurvivesCrash(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 3, Modify: func(_ int, cfg *node.Config) {
		cfg.Ring.Backups = 1
		cfg.RESPFlushAll = true
	}})
	ctx := context.Background()
	rc := redisClient(t, c, 0, 3, "")
	const n = 200
	want := map[string]string{}
	for i := range n {
		k := fmt.Sprint("ap", i)
		for _, part := range []string{"a", "b", "c"} {
			if err := rc.Append(ctx, k, part).Err(); err != nil {
				t.Fatal(err)
			}
		}
		want[k] = "abc"
		if i%4 == 0 {
			if got, err := rc.GetDel(ctx, k).Result(); err != nil || got != "abc" {
				t.Fatalf("GETDEL %s = %q, %v", k, got, err)
			}
			delete(want, k)
		}
	}
	for i := range 20 {
		keys := samePartition(c.Nodes[0].Table(), fmt.Sprint("nx", i), 3)
		if ok, err := rc.MSetNX(ctx, keys[0], "1", keys[1], "2", keys[2], "3").Result(); err != nil || !ok {
			t.Fatalf("MSETNX %v = %v, %v", keys, ok, err)
		}
		if ok, err := rc.MSetNX(ctx, keys[0]+"-new", "x", keys[1], "y").Result(); err == nil && ok {
			t.Fatalf("MSETNX over a present key wrote")
		}
		want[keys[0]], want[keys[1]], want[keys[2]] = "1", "2", "3"
	}
	check := func(rc *redis.Client, via string) {
		t.Helper()
		seen := scanAll(t, rc, "", 7)
		if len(seen) != len(want) {
			t.Fatalf("SCAN via %s saw %d keys, want %d", via, len(seen), len(want))
		}
		for k, v := range want {
			if seen[k] != 1 {
				t.Fatalf("SCAN via %s saw %s %d times", via, k, seen[k])
			}
			if got, err := rc.Get(ctx, k).Result(); err != nil || got != v {
				t.Fatalf("GET %s via %s = %q, %v; want %q", k, via, got, err, v)
			}
		}
		if m := scanAll(t, rc, "nx1?-*", 50); len(m) != 20 {
			t.Fatalf("SCAN MATCH nx1?-* via %s: %d keys, want 20: %v", via, len(m), m)
		}
	}
	check(redisClient(t, c, 1, 2, ""), "n2")
	c.Nodes[2].Abort()
	waitFor(t, 20*time.Second, "survivors agree on a 2-member table", func() bool {
		a, b := c.Nodes[0].Table(), c.Nodes[1].Table()
		return len(a.Members()) == 2 && a.Epoch() == b.Epoch() && a.Hash() == b.Hash()
	})
	check(rc, "n1 after n3 crashed")
	if err := rc.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if m := scanAll(t, redisClient(t, c, 1, 2, ""), "", 100); len(m) != 0 {
		t.Fatalf("after FLUSHALL SCAN saw %d keys", len(m))
	}
	if n, err := rc.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("DBSIZE after FLUSHALL = %d, %v", n, err)
	}
}

// TestRESPClusterMode: three nodes with --resp-cluster and one backup;
// go-redis's ClusterClient routes every key to its owner (CLUSTER SLOTS,
// MOVED), through a graceful leave and a crash, and nothing acknowledged
// is lost. A node without --resp-cluster is refused by the others.
func TestRESPClusterMode(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 4, Modify: func(_ int, cfg *node.Config) {
		cfg.Ring.Backups = 1
		cfg.RESPCluster = true
	}})
	ctx := context.Background()
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.RESPAddr())
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		MaxRedirects: 8})
	t.Cleanup(func() { cc.Close() })
	//lint:ignore SA1019 CLUSTER SLOTS is a command ns serves (older clients use it): the test calls it on purpose
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil || len(slots) < 4 {
		t.Fatalf("CLUSTER SLOTS = %v, %v", slots, err)
	}
	written := map[string]string{}
	write := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			k, v := fmt.Sprint("ck", i), fmt.Sprint("v", i)
			if err := cc.Set(ctx, k, v, 0).Err(); err != nil {
				t.Fatalf("SET %s: %v", k, err)
			}
			written[k] = v
		}
		if err := cc.MSet(ctx, fmt.Sprint("{t", from, "}a"), "1", fmt.Sprint("{t", from, "}b"), "2").Err(); err != nil {
			t.Fatalf("MSET with a hash tag: %v", err)
		}
		written[fmt.Sprint("{t", from, "}a")], written[fmt.Sprint("{t", from, "}b")] = "1", "2"
	}
	check := func(via string) {
		t.Helper()
		for k, v := range written {
			var got string
			var err error
			for range 50 { // a client may need a few redirects while tables settle
				if got, err = cc.Get(ctx, k).Result(); err == nil {
					break
				}
				cc.ReloadState(ctx)
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil || got != v {
				t.Fatalf("%s: GET %s = %q, %v; want %q", via, k, got, err, v)
			}
		}
	}
	write(0, 300)
	check("4 nodes")
	// MOVED from a node that does not own the key.
	k := []byte("foo")
	owner := c.Nodes[0].Table().Owner(c.Nodes[0].Table().PartitionOf(k)).ID
	for i, n := range c.Nodes {
		if n.ID() != owner {
			_, err := redisClient(t, c, i, 2, "").Get(ctx, "foo").Result()
			wantErr(t, err, "MOVED 12182 ")
			break
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := c.Nodes[3].Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	c.Nodes = c.Nodes[:3]
	c.WaitAgreed(20 * time.Second)
	cc.ReloadState(ctx)
	check("after a graceful leave")
	write(300, 400)
	c.Nodes[2].Abort()
	waitFor(t, 20*time.Second, "survivors agree on a 2-member table", func() bool {
		a, b := c.Nodes[0].Table(), c.Nodes[1].Table()
		return len(a.Members()) == 2 && a.Epoch() == b.Epoch() && a.Hash() == b.Hash()
	})
	cc.ReloadState(ctx)
	check("after a crash")

	// A node placing keys by xxhash is refused: not ready, and says why;
	// the cluster's table does not take it.
	cfg := clustertest.NodeConfig(t, 9)
	cfg.JoinTimeout = 300 * time.Millisecond
	cfg.Cluster.Join = []string{c.Nodes[0].GossipAddr()}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the refusal names --resp-cluster", func() bool {
		_, why := n.Ready()
		return strings.Contains(why, "--resp-cluster")
	})
	if got := c.Nodes[0].Table(); len(got.Members()) != 2 {
		t.Fatalf("the cluster's table took the refused node: %v", got.Members())
	}
}

// TestRESPClusterDataDir: a data directory records the key hash. A node
// with --resp-cluster keeps its keys across a restart; the same directory
// is refused to a node without it, and a directory of xxhash data to a
// node with it.
func TestRESPClusterDataDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	start := func(cluster bool, dir string) (*node.Node, error) {
		cfg := clustertest.NodeConfig(t, 0)
		cfg.DataDir, cfg.RESPCluster = dir, cluster
		n, err := node.New(cfg)
		if err != nil {
			return nil, err
		}
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Shutdown(ctx) })
		waitFor(t, 10*time.Second, "ready", func() bool { ok, _ := n.Ready(); return ok })
		return n, nil
	}
	n, err := start(true, dir)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(&redis.Options{Addr: n.RESPAddr(), MaxRetries: -1})
	if err := rc.Set(ctx, "foo", "bar", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := start(false, dir); !errors.Is(err, node.ErrInvalidConfig) || !strings.Contains(err.Error(), "key hash 1") {
		t.Fatalf("a standalone node on a cluster-mode data dir: %v, want ErrInvalidConfig naming key hash 1", err)
	}
	n, err = start(true, dir)
	if err != nil {
		t.Fatal(err)
	}
	rc = redis.NewClient(&redis.Options{Addr: n.RESPAddr(), MaxRetries: -1})
	defer rc.Close()
	if got, err := rc.Get(ctx, "foo").Result(); err != nil || got != "bar" {
		t.Fatalf("GET foo after a restart = %q, %v", got, err)
	}
	// xxhash data: no key hash file.
	old := t.TempDir()
	if err := os.WriteFile(filepath.Join(old, "node.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := start(true, old); !errors.Is(err, node.ErrInvalidConfig) || !strings.Contains(err.Error(), "data without keyhash.json") {
		t.Fatalf("a cluster-mode node on an older xxhash data dir: %v, want a refusal", err)
	}
}

// infoField is the value of field in an INFO reply, "" when absent.
func infoField(info, field string) string {
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return v
		}
	}
	return ""
}
