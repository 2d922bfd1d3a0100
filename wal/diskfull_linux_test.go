//go:build linux

package wal

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of the given size (like "1m") on a fresh
// directory and unmounts it at the end of the test. It skips the test when
// it cannot (not root, no mount permission in this container).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the disk-full test mounts a tmpfs and needs root")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: cannot mount a tmpfs for the disk-full test: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestDiskFullTmpfs fills a 1 MiB tmpfs: writes fail with ENOSPC, the log
// fails closed, nothing synced is lost, and once the file system grows a
// reopened log recovers and appends again.
func TestDiskFullTmpfs(t *testing.T) {
	mnt := mountTmpfs(t, "1m")
	dir := filepath.Join(mnt, "w0")
	cfg := Config{Dir: dir, SegmentBytes: 256 << 10}
	l, _ := openRecover(t, cfg)
	var synced, pending []Record
	var err error
	for i := 0; ; i++ {
		r := testRecord(i, uint32(i%4), 1000)
		if err = l.Append(r); err != nil {
			break
		}
		pending = append(pending, r)
		if i%8 == 7 {
			if err = l.Sync(); err != nil {
				break
			}
			synced, pending = append(synced, pending...), nil
		}
		if i > 10000 {
			t.Fatal("a 1 MiB file system never filled up")
		}
	}
	t.Logf("disk full after %d synced records: %v", len(synced), err)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v: want ErrFailed wrapping ENOSPC", err)
	}
	if l.Err() != err || l.Append(testRecord(0, 0, 1)) != err || l.Sync() != err {
		t.Fatal("the log is not fail-closed")
	}
	if got := l.Close(); got != err {
		t.Fatalf("Close: %v", got)
	}

	// Still full: a reopened log recovers but cannot start a new segment,
	// or can (tmpfs freed the torn tail): either way nothing synced is lost.
	if l2, err := Open(cfg); err == nil {
		rec, rerr := recoverAll(l2)
		if rerr == nil {
			sameRecords(t, rec.records[:len(synced)], synced)
		} else {
			t.Logf("recover on a full disk: %v", rerr)
		}
		_ = l2.Close()
	}

	if out, err := exec.Command("mount", "-o", "remount,size=8m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount bigger: %v: %s", err, out)
	}
	l, rec := openRecover(t, cfg)
	defer l.Close()
	if len(rec.records) < len(synced) {
		t.Fatalf("recovered %d records, %d were synced", len(rec.records), len(synced))
	}
	sameRecords(t, rec.records[:len(synced)], synced)
	sameRecords(t, rec.records[len(synced):], pending[:len(rec.records)-len(synced)])
	t.Logf("recovered %d records (%d synced), truncated %d bytes", len(rec.records), len(synced), rec.info.TruncatedBytes)
	for i := range 100 {
		mustAppend(t, l, testRecord(100000+i, 0, 1000))
	}
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync after space returned: %v", err)
	}
}
