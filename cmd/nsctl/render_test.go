package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name.golden (or rewrites it with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/nsctl -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n--- got ---\n%s\n--- want ---\n%s", name, path, got, want)
	}
}

func fptr(f float64) *float64 { return &f }
func uptr(u uint64) *uint64   { return &u }

func fixedMembers() []memberView {
	return []memberView{
		{ID: "n1", GossipAddr: "127.0.0.1:7946", GRPCAddr: "127.0.0.1:7700", State: "alive", Zone: "a", PartitionsOwned: 91, PartitionsBackup: 90, Workers: 2, Version: "v0.1.0"},
		{ID: "n2", GossipAddr: "127.0.0.1:7947", GRPCAddr: "127.0.0.1:7701", State: "suspect", PartitionsOwned: 90, PartitionsBackup: 91, Workers: 4, Version: "v0.1.0"},
		{ID: "n3", GossipAddr: "127.0.0.1:7948", GRPCAddr: "127.0.0.1:7702", State: "left", Workers: 2},
	}
}

func fixedPartitions() []partitionView {
	return []partitionView{
		{Partition: 0, Owner: "n1", OwnerAddr: "127.0.0.1:7700", Backups: []string{"n2"}, Epoch: 7, State: "owned"},
		{Partition: 1, Owner: "n2", OwnerAddr: "127.0.0.1:7701", Backups: []string{"n1", "n3"}, Epoch: 7, State: "moving", Keys: uptr(42)},
		{Partition: 2, Owner: "n3", OwnerAddr: "127.0.0.1:7702", Epoch: 7, State: "owned"},
	}
}

func fixedStats() []nodeStatsView {
	return []nodeStatsView{
		{Node: "n1", Addr: "127.0.0.1:7700", Version: "v0.1.0", UptimeSeconds: 12.5, TableEpoch: 3, PartitionsOwned: 136, Keys: 1000,
			Forwarded: 5, Processed: 300, Rate: fptr(150), QueueDepth: 2, P99Us: 80.25, Panics: 1,
			Workers: []workerStatsView{
				{ID: 0, Processed: 100, Rate: fptr(50), QueueDepth: 0, P50Us: 10, P99Us: 40.5, P999Us: 90, Enqueued: 100, Batches: 20, Partitions: 68},
				{ID: 1, Processed: 200, Rate: fptr(100.4), QueueDepth: 2, P50Us: 12, P99Us: 80.25, P999Us: 120, Panics: 1, Restarts: 1, Enqueued: 202, Dropped: 1, Batches: 30, Partitions: 68, CircuitOpen: true},
			}},
		{Node: "n2", Addr: "127.0.0.1:7701", Error: "127.0.0.1:7701 unreachable: connection refused"},
	}
}

func fixedBench() []benchResult {
	return []benchResult{
		{Op: "put", Ops: 100000, DurationS: 1.25, OpsPerSec: 80000, P50Us: 512, P90Us: 900, P99Us: 1500, P999Us: 3000, MaxUs: 4500.5, Clients: 50, Pipeline: 1, Batch: 1, Conns: 2, ValueSize: 64},
		{Op: "get", Ops: 100000, Errors: 3, Misses: 10, DurationS: 1, OpsPerSec: 100000, P50Us: 400, P90Us: 700, P99Us: 1200, P999Us: 2500, MaxUs: 4000, Clients: 50, Pipeline: 1, Batch: 1, Conns: 2, ValueSize: 64},
	}
}

func TestGolden(t *testing.T) {
	cases := []struct {
		name   string
		render func(b *bytes.Buffer, format string) error
	}{
		{"members", func(b *bytes.Buffer, f string) error { return renderMembers(b, f, fixedMembers()) }},
		{"members-empty", func(b *bytes.Buffer, f string) error { return renderMembers(b, f, nil) }},
		{"partitions", func(b *bytes.Buffer, f string) error { return renderPartitions(b, f, fixedPartitions()) }},
		{"locate", func(b *bytes.Buffer, f string) error {
			return renderLocate(b, f, locateView{Key: "user:42", Partition: 17, Owner: "n2", OwnerAddr: "127.0.0.1:7701", Worker: 1, Workers: 4, Epoch: 7})
		}},
		{"locate-noworkers", func(b *bytes.Buffer, f string) error {
			return renderLocate(b, f, locateView{Key: "k", Partition: 3, Owner: "n1", OwnerAddr: "127.0.0.1:7700", Worker: -1, Epoch: 1})
		}},
		{"get", func(b *bytes.Buffer, f string) error {
			return renderGet(b, f, newGetView("user:42", []byte("ada\tlovelace"), 1500))
		}},
		{"get-binary", func(b *bytes.Buffer, f string) error {
			return renderGet(b, f, newGetView("blob", []byte{0xff, 0x00, 'x'}, 0))
		}},
		{"stats", func(b *bytes.Buffer, f string) error { return renderStats(b, f, fixedStats()) }},
		{"stats-norate", func(b *bytes.Buffer, f string) error {
			s := fixedStats()[:1]
			s[0].Rate = nil
			for i := range s[0].Workers {
				s[0].Workers[i].Rate = nil
			}
			return renderStats(b, f, s)
		}},
		{"health", func(b *bytes.Buffer, f string) error {
			return renderHealth(b, f, []healthView{{Node: "n1", Addr: "127.0.0.1:7700", Status: "SERVING", Ready: true},
				{Node: "n2", Addr: "127.0.0.1:7701", Status: "UNREACHABLE", Error: "127.0.0.1:7701 unreachable: refused"}})
		}},
		{"version", func(b *bytes.Buffer, f string) error {
			return renderVersion(b, f, versionView{Client: "v0.1.0 (abc1234)", Servers: []serverVersionView{{Node: "n1", Addr: "127.0.0.1:7700", Version: "v0.1.0"}}})
		}},
		{"bench", func(b *bytes.Buffer, f string) error { return renderBench(b, f, fixedBench()) }},
	}
	for _, c := range cases {
		for _, f := range []string{outTable, outWide, outJSON, outYAML} {
			t.Run(c.name+"/"+f, func(t *testing.T) {
				var b bytes.Buffer
				if err := c.render(&b, f); err != nil {
					t.Fatal(err)
				}
				golden(t, c.name+"."+f, b.Bytes())
			})
		}
	}
}
