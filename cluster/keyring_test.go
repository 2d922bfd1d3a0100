package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func key(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func TestParseKeys(t *testing.T) {
	k16, k32 := key(1, 16), key(2, 32)
	b64 := base64.StdEncoding.EncodeToString
	raw := base64.RawStdEncoding.EncodeToString
	for _, tc := range []struct {
		name string
		in   string
		want [][]byte
		err  bool
	}{
		{"one key", b64(k32) + "\n", [][]byte{k32}, false},
		{"unpadded", raw(k16), [][]byte{k16}, false},
		{"primary then others, comments", "# rotation\n" + b64(k16) + "\n\n  " + b64(k32) + "  \r\n", [][]byte{k16, k32}, false},
		{"raw 32 bytes", string(k32), [][]byte{k32}, false},
		{"raw 24 bytes with a newline inside", "abc\ndefghijklmnopqrstuvw", [][]byte{[]byte("abc\ndefghijklmnopqrstuvw")}, false},
		{"wrong size", b64(key(3, 20)), nil, true},
		{"not base64", "!!!!not-a-key!!!!", nil, true},
		{"empty", "", nil, true},
		{"comments only", "# none\n", nil, true},
		{"one bad line", b64(k16) + "\nnope\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKeys([]byte(tc.in))
			if tc.err {
				if !errors.Is(err, ErrBadKey) {
					t.Fatalf("err %v, want ErrBadKey", err)
				}
				return
			}
			if err != nil || !slices.EqualFunc(got, tc.want, bytes.Equal) {
				t.Fatalf("ParseKeys = %x, %v; want %x", got, err, tc.want)
			}
		})
	}
	p := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(p, []byte(EncodeKey(k16)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadKeyFile(p); err != nil || !bytes.Equal(got[0], k16) {
		t.Fatalf("ReadKeyFile = %x, %v", got, err)
	}
	if _, err := ReadKeyFile(p + ".absent"); !errors.Is(err, ErrBadKey) {
		t.Fatalf("absent file: %v", err)
	}
}

func FuzzParseKeys(f *testing.F) {
	f.Add([]byte(EncodeKey(key(1, 16)) + "\n"))
	f.Add([]byte("# c\n" + EncodeKey(key(2, 32)) + "\n" + EncodeKey(key(3, 24))))
	f.Add(key(4, 32))
	f.Add([]byte("not a key"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := ParseKeys(b)
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("error %v does not wrap ErrBadKey", err)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("no error and no key")
		}
		for _, k := range keys {
			if ValidateKey(k) != nil {
				t.Fatalf("invalid key %x accepted", k)
			}
		}
	})
}

// secureConfig is n.config(id) with gossip encrypted under k (nil: none)
// and labelled label.
func (n *testNet) secureConfig(id string, k []byte, label string) Config {
	cfg := n.config(id)
	cfg.SecretKey = k
	cfg.Label = label
	return cfg
}

// TestWrongKeyOrLabelCannotJoin: a node with another gossip key, no key, or
// another cluster label never joins; the cluster keeps its members and logs
// why.
func TestWrongKeyOrLabelCannotJoin(t *testing.T) {
	good, other := key(7, 32), key(8, 32)
	for _, tc := range []struct {
		name  string
		key   []byte
		label string
		why   string
	}{
		{"wrong key", other, "prod", "decrypt"},
		{"no key", nil, "prod", "not encrypted"},
		{"wrong label", good, "staging", "label"},
		{"no label", good, "", "label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t)
			logs := &captureHandler{}
			cfg1 := n.secureConfig("n1", good, "prod")
			cfg1.Logger = slog.New(logs)
			c1 := n.start(cfg1)
			cfg2 := n.secureConfig("n2", good, "prod")
			cfg2.Join = []string{c1.LocalAddr()}
			c2 := n.start(cfg2)
			waitFor(t, 10*time.Second, "the cluster", func() (bool, string) { return converged([]*Cluster{c1, c2}, "n1", "n2") })

			bad := n.secureConfig("intruder", tc.key, tc.label)
			x, err := New(bad)
			if err != nil {
				t.Fatal(err)
			}
			defer x.Shutdown()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, err := x.Join(ctx, []string{c1.LocalAddr()}); err == nil {
				t.Fatal("join succeeded")
			}
			waitFor(t, 5*time.Second, "a warning saying why", func() (bool, string) {
				return logs.contains("gossip refused"), "not logged"
			})
			if !logs.contains(tc.why) {
				t.Errorf("logs do not mention %q", tc.why)
			}
			for _, c := range []*Cluster{c1, c2} {
				for _, m := range c.Members() {
					if m.ID == "intruder" {
						t.Fatalf("%s admitted the intruder: %+v", c.LocalID(), m)
					}
				}
				if ids := c.View().IDs(); !slices.Equal(ids, []string{"n1", "n2"}) {
					t.Fatalf("%s view %v", c.LocalID(), ids)
				}
			}
			if ids := x.View().IDs(); !slices.Equal(ids, []string{"intruder"}) {
				t.Fatalf("intruder sees %v", ids)
			}
		})
	}
}

// TestKeyRotation rotates the gossip key of a running 3-node cluster in the
// documented three steps and checks that it never splits.
func TestKeyRotation(t *testing.T) {
	old, next := key(1, 16), key(2, 32)
	n := newTestNet(t)
	var cs []*Cluster
	for _, id := range []string{"n1", "n2", "n3"} {
		cfg := n.secureConfig(id, old, "prod")
		if len(cs) > 0 {
			cfg.Join = []string{cs[0].LocalAddr()}
		}
		cs = append(cs, n.start(cfg))
	}
	ids := []string{"n1", "n2", "n3"}
	waitFor(t, 10*time.Second, "the cluster", func() (bool, string) { return converged(cs, ids...) })
	step := func(name string, f func(c *Cluster) error) {
		t.Helper()
		for _, c := range cs {
			if err := f(c); err != nil {
				t.Fatalf("%s on %s: %v", name, c.LocalID(), err)
			}
		}
	}
	step("install", func(c *Cluster) error { return c.InstallKey(next) })
	step("use", func(c *Cluster) error { return c.UseKey(next) })
	if err := cs[0].RemoveKey(next); !errors.Is(err, ErrBadKey) {
		t.Fatalf("removing the primary key: %v, want ErrBadKey", err)
	}
	step("remove", func(c *Cluster) error { return c.RemoveKey(old) })
	for _, c := range cs {
		primary, all := c.Keys()
		if !bytes.Equal(primary, next) || len(all) != 1 {
			t.Fatalf("%s keys: primary %s, %d keys", c.LocalID(), KeyFingerprint(primary), len(all))
		}
	}
	// Gossip still flows under the new key: a metadata change reaches everyone,
	// and a node with only the old key cannot join.
	meta := Meta{GRPCAddr: "grpc-n3:7700", Zone: "z9", Workers: 2, Version: "test"}
	if err := cs[2].SetMeta(meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the new zone", func() (bool, string) {
		for _, m := range cs[0].View().Members {
			if m.ID == "n3" && m.Meta.Zone == "z9" {
				return true, ""
			}
		}
		return false, "n1 does not see n3 in z9"
	})
	x, err := New(n.secureConfig("stale", old, "prod"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := x.Join(ctx, []string{cs[0].LocalAddr()}); err == nil {
		t.Fatal("a node with the removed key joined")
	}
	if ok, why := converged(cs, ids...); !ok {
		t.Fatal(why)
	}

	plain := n.start(n.config("plain"))
	if err := plain.InstallKey(next); !errors.Is(err, ErrNoEncryption) {
		t.Fatalf("InstallKey without encryption: %v", err)
	}
	if p, all := plain.Keys(); p != nil || all != nil || plain.Encrypted() {
		t.Fatal("a plaintext cluster reports keys")
	}
	if err := cs[0].InstallKey(key(1, 5)); !errors.Is(err, ErrBadKey) {
		t.Fatalf("short key: %v", err)
	}
	if !strings.HasPrefix(KeyFingerprint(next), KeyFingerprint(next)[:4]) || len(KeyFingerprint(next)) != 16 {
		t.Fatal("fingerprint format")
	}
}
