package wal_test

import (
	"fmt"
	"os"

	"github.com/nothingshared/ns/wal"
)

// A worker's life with its log: recover, append a batch with one fsync,
// snapshot, and recover again.
func Example() {
	dir, _ := os.MkdirTemp("", "wal-example")
	defer os.RemoveAll(dir)
	cfg := wal.DefaultConfig()
	cfg.Dir = dir

	l, err := wal.Open(cfg)
	if err != nil {
		panic(err)
	}
	if _, err := l.Recover(nil, nil); err != nil { // a new log: nothing to install
		panic(err)
	}
	for lsn := uint64(1); lsn <= 3; lsn++ {
		if err := l.Append(wal.Record{Partition: 7, Epoch: 1, LSN: lsn, Payload: []byte("incr a")}); err != nil {
			panic(err)
		}
	}
	if err := l.Sync(); err != nil { // one fsync for the batch; then release the results
		panic(err)
	}
	// The worker snapshots its partition's state: the records before are
	// covered; the one after is replayed on top of the snapshot.
	if err := l.SaveSnapshot(7, 1, 3, []byte("a=3")); err != nil {
		panic(err)
	}
	if err := l.Append(wal.Record{Partition: 7, Epoch: 1, LSN: 4, Payload: []byte("incr a")}); err != nil {
		panic(err)
	}
	_ = l.Close() // Close syncs

	l, err = wal.Open(cfg)
	if err != nil {
		panic(err)
	}
	defer l.Close()
	info, err := l.Recover(
		func(p uint32, data []byte, epoch, lsn uint64) error {
			fmt.Printf("partition %d: snapshot %q at epoch %d lsn %d\n", p, data, epoch, lsn)
			return nil
		},
		func(r wal.Record) error {
			fmt.Printf("partition %d: replay lsn %d %q\n", r.Partition, r.LSN, r.Payload)
			return nil
		})
	if err != nil {
		panic(err)
	}
	fmt.Println("replayed", info.Replayed, "skipped", info.Skipped)
	// Output:
	// partition 7: snapshot "a=3" at epoch 1 lsn 3
	// partition 7: replay lsn 4 "incr a"
	// replayed 1 skipped 3
}
