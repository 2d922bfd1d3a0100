package advertise_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/nothingshared/ns/internal/advertise"
)

const up = net.FlagUp | net.FlagBroadcast | net.FlagMulticast

func ifc(name string, flags net.Flags, addrs ...string) advertise.Interface {
	x := advertise.Interface{Name: name, Flags: flags}
	for _, a := range addrs {
		x.Addrs = append(x.Addrs, netip.MustParsePrefix(a))
	}
	return x
}

var lo = ifc("lo", net.FlagUp|net.FlagLoopback, "127.0.0.1/8", "::1/128")

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ifaces []advertise.Interface
		want   string   // chosen address, "" when an error is expected
		err    error    // sentinel expected
		listed []string // in the error message
		absent []string // not in the error message
	}{
		{name: "docker container", ifaces: []advertise.Interface{lo, ifc("eth0", up, "172.17.0.2/16")}, want: "172.17.0.2 (eth0)"},
		{name: "kubernetes pod with IPv6 too", ifaces: []advertise.Interface{lo, ifc("eth0", up, "10.244.1.7/24", "fd00::7/64", "fe80::1/64")}, want: "10.244.1.7 (eth0)"},
		{name: "192.168", ifaces: []advertise.Interface{ifc("wlan0", up, "192.168.1.20/24")}, want: "192.168.1.20 (wlan0)"},
		{name: "172.16/12 upper edge", ifaces: []advertise.Interface{ifc("eth0", up, "172.31.255.254/16")}, want: "172.31.255.254 (eth0)"},
		{name: "RFC 6598 shared space", ifaces: []advertise.Interface{ifc("tailscale0", up, "100.101.102.103/32")}, want: "100.101.102.103 (tailscale0)"},
		{name: "public and link-local beside one private", ifaces: []advertise.Interface{lo,
			ifc("eth0", up, "203.0.113.9/24", "169.254.3.4/16", "10.0.0.5/8"), ifc("eth1", up, "198.51.100.1/24")}, want: "10.0.0.5 (eth0)"},
		{name: "a down interface does not count", ifaces: []advertise.Interface{ifc("eth0", up, "10.0.0.5/8"), ifc("eth1", net.FlagBroadcast, "10.9.9.9/8")}, want: "10.0.0.5 (eth0)"},
		{name: "a private address on a loopback interface does not count", ifaces: []advertise.Interface{ifc("lo", net.FlagUp|net.FlagLoopback, "127.0.0.1/8", "10.1.1.1/32"), ifc("eth0", up, "192.168.0.2/24")}, want: "192.168.0.2 (eth0)"},
		{name: "the same address twice counts once", ifaces: []advertise.Interface{ifc("eth0", up, "10.0.0.5/8"), ifc("eth0:1", up, "10.0.0.5/8")}, want: "10.0.0.5 (eth0)"},
		{name: "IPv4-mapped", ifaces: []advertise.Interface{ifc("eth0", up, "::ffff:10.0.0.6/104")}, want: "10.0.0.6 (eth0)"},

		{name: "loopback only", ifaces: []advertise.Interface{lo}, err: advertise.ErrNoPrivateIPv4, listed: []string{"127.0.0.1 (lo)", "10.0.0.0/8", "100.64.0.0/10"}},
		{name: "no interfaces", err: advertise.ErrNoPrivateIPv4, listed: []string{"no address at all"}},
		{name: "public, link-local, edges of the blocks", ifaces: []advertise.Interface{lo, ifc("eth0", up,
			"203.0.113.9/24", "169.254.3.4/16", "172.32.0.1/16", "172.15.255.1/16", "100.128.0.1/10", "100.63.255.1/10", "192.169.0.1/16", "fd00::1/64")},
			err: advertise.ErrNoPrivateIPv4, listed: []string{"203.0.113.9 (eth0)", "169.254.3.4 (eth0)", "fd00::1 (eth0)"}},
		{name: "private but down", ifaces: []advertise.Interface{ifc("eth0", net.FlagBroadcast, "10.0.0.5/8")}, err: advertise.ErrNoPrivateIPv4, listed: []string{"10.0.0.5 (eth0, down)"}},

		{name: "two on one interface", ifaces: []advertise.Interface{lo, ifc("eth0", up, "10.213.7.2/24", "10.213.7.3/24")},
			err: advertise.ErrSeveralPrivateIPv4, listed: []string{"10.213.7.2 (eth0)", "10.213.7.3 (eth0)"}, absent: []string{"127.0.0.1"}},
		{name: "docker bridge beside the host's LAN", ifaces: []advertise.Interface{lo, ifc("eth0", up, "192.168.1.20/24"), ifc("docker0", up, "172.17.0.1/16"), ifc("cni0", up, "100.64.0.1/24")},
			err: advertise.ErrSeveralPrivateIPv4, listed: []string{"192.168.1.20 (eth0)", "172.17.0.1 (docker0)", "100.64.0.1 (cni0)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := advertise.Choose(tc.ifaces)
			if tc.err == nil {
				if err != nil {
					t.Fatalf("Choose: %v, want %s", err, tc.want)
				}
				if got.String() != tc.want {
					t.Fatalf("Choose = %s, want %s", got, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("Choose = %v, %v; want an error wrapping %v", got, err, tc.err)
			}
			for _, s := range tc.listed {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not list %q", err, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q lists %q", err, s)
				}
			}
		})
	}
}

// TestInterfaces reads this host's interfaces (never changes them): every
// address comes back as a valid prefix, IPv4 ones unmapped.
func TestInterfaces(t *testing.T) {
	ifs, err := advertise.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifs {
		for _, p := range ifc.Addrs {
			if !p.IsValid() || p.Addr().Is4In6() {
				t.Errorf("%s: address %v", ifc.Name, p)
			}
		}
	}
}
