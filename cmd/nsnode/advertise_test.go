package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/nothingshared/ns/internal/advertise"
	"github.com/nothingshared/ns/node"
)

// fakeInterfaces makes hostInterfaces return ifs until the test ends.
func fakeInterfaces(t *testing.T, ifs ...advertise.Interface) {
	t.Helper()
	old := hostInterfaces
	hostInterfaces = func() ([]advertise.Interface, error) { return ifs, nil }
	t.Cleanup(func() { hostInterfaces = old })
}

func iface(name string, addrs ...string) advertise.Interface {
	x := advertise.Interface{Name: name, Flags: net.FlagUp}
	if name == "lo" {
		x.Flags |= net.FlagLoopback
	}
	for _, a := range addrs {
		x.Addrs = append(x.Addrs, netip.MustParsePrefix(a))
	}
	return x
}

// TestAutoAdvertiseRefuses: binding every interface without
// --advertise-addr, on a host with no private IPv4 address or several,
// exits 2 before binding anything, naming --advertise-addr and listing what
// it found.
func TestAutoAdvertiseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ifs    []advertise.Interface
		args   []string
		listed []string
	}{
		{"none, gRPC", []advertise.Interface{iface("lo", "127.0.0.1/8"), iface("eth0", "203.0.113.5/24", "169.254.1.1/16")},
			[]string{"--grpc-addr", "0.0.0.0:0", "--gossip-addr", "127.0.0.1:0", "--http-addr", ""},
			[]string{"--grpc-addr 0.0.0.0:0 binds every interface", "no private IPv4 address", "203.0.113.5 (eth0)", "set --advertise-addr"}},
		{"none, gossip on ::", []advertise.Interface{iface("lo", "127.0.0.1/8")},
			[]string{"--grpc-addr", "127.0.0.1:0", "--gossip-addr", "[::]:0", "--http-addr", ""},
			[]string{"--gossip-addr [::]:0 binds every interface", "--advertise-addr"}},
		{"several", []advertise.Interface{iface("lo", "127.0.0.1/8"), iface("eth0", "10.213.9.2/24"), iface("eth1", "192.168.4.4/24")},
			[]string{"--grpc-addr", ":0", "--gossip-addr", "0.0.0.0:0", "--http-addr", ""},
			[]string{"--grpc-addr :0 and --gossip-addr 0.0.0.0:0 bind every interface", "10.213.9.2 (eth0)", "192.168.4.4 (eth1)", "pick the one peers reach this node at with --advertise-addr"}},
		{"several, from the environment", []advertise.Interface{iface("eth0", "10.213.9.2/24", "10.213.9.3/24")},
			nil, []string{"10.213.9.2 (eth0)", "10.213.9.3 (eth0)", "--advertise-addr"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeInterfaces(t, tc.ifs...)
			var env map[string]string
			if tc.args == nil {
				env = map[string]string{"NSNODE_GRPC_ADDR": "0.0.0.0:0", "NSNODE_GOSSIP_ADDR": "127.0.0.1:0", "NSNODE_HTTP_ADDR": ""}
			}
			code, _, errs := runNsnode(t, env, tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, exitUsage, errs)
			}
			for _, s := range tc.listed {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr %q does not say %q", errs, s)
				}
			}
		})
	}
}

// TestAutoAdvertise: with one private IPv4 address, each layer that binds
// every interface advertises it; a layer bound to one address advertises
// that one; --advertise-addr, when given, is never second-guessed.
func TestAutoAdvertise(t *testing.T) {
	ifs := []advertise.Interface{iface("lo", "127.0.0.1/8", "::1/128"), iface("eth0", "10.213.9.2/24", "fe80::2/64", "fd00::2/64")}
	for _, tc := range []struct {
		name, grpc, gossip   string
		wantGRPC, wantGossip string // node.Config.AdvertiseAddr, node.Config.Cluster.AdvertiseAddr
		logged               bool
	}{
		{"both wildcard", "0.0.0.0:7700", "0.0.0.0", "10.213.9.2", "10.213.9.2", true},
		{"IPv6 wildcard and no host", ":7700", "::", "10.213.9.2", "10.213.9.2", true},
		{"gRPC wildcard, gossip on loopback", "0.0.0.0:7700", "127.0.0.1", "10.213.9.2", "127.0.0.1", true},
		{"gRPC wildcard, gossip on the default", "0.0.0.0:7700", "", "10.213.9.2", "127.0.0.1", true},
		{"gossip wildcard, gRPC on one address", "10.213.9.2:7700", "0.0.0.0", "", "10.213.9.2", true},
		{"nothing wildcard", "127.0.0.1:7700", "127.0.0.1", "", "", false},
		{"bad gRPC address is node.New's", "nope", "127.0.0.1", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeInterfaces(t, ifs...)
			var logs bytes.Buffer
			f := flags{grpcAddr: tc.grpc, gossipAddr: net.JoinHostPort(tc.gossip, "7946")}
			cfg := node.DefaultConfig()
			if err := f.autoAdvertise(&cfg, tc.gossip, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
				t.Fatal(err)
			}
			if cfg.AdvertiseAddr != tc.wantGRPC || cfg.Cluster.AdvertiseAddr != tc.wantGossip {
				t.Errorf("advertises gRPC %q gossip %q, want %q and %q", cfg.AdvertiseAddr, cfg.Cluster.AdvertiseAddr, tc.wantGRPC, tc.wantGossip)
			}
			if got := strings.Contains(logs.String(), "addr=10.213.9.2 interface=eth0"); got != tc.logged {
				t.Errorf("logged the choice: %v, want %v (%q)", got, tc.logged, logs.String())
			}
		})
	}
	t.Run("interfaces unreadable", func(t *testing.T) {
		fakeInterfaces(t)
		hostInterfaces = func() ([]advertise.Interface, error) {
			return nil, errors.New("advertise: listing interfaces: no netlink")
		}
		code, _, errs := runNsnode(t, nil, "--grpc-addr", "0.0.0.0:0", "--gossip-addr", "127.0.0.1:0", "--http-addr", "")
		if code != exitUsage || !strings.Contains(errs, "no netlink") || !strings.Contains(errs, "set --advertise-addr") {
			t.Fatalf("exit %d, %q", code, errs)
		}
	})
	t.Run("explicit flag", func(t *testing.T) {
		fakeInterfaces(t) // never asked
		hostInterfaces = func() ([]advertise.Interface, error) { return nil, errors.New("asked") }
		code, _, errs := runNsnode(t, nil, "--grpc-addr", "0.0.0.0:0", "--gossip-addr", "0.0.0.0:0", "--http-addr", "", "--advertise-addr", "nope", "--workers", "0")
		if code != exitUsage || strings.Contains(errs, "asked") || !strings.Contains(errs, "--workers") {
			t.Fatalf("exit %d, %q", code, errs)
		}
	})
}
