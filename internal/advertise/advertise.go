// Package advertise picks the address a node advertises to its peers when it
// binds every interface (0.0.0.0 or ::) and was given no address to
// advertise: the one private IPv4 address of the host, as Consul and
// memberlist do (go-sockaddr's GetPrivateIP). Unlike GetPrivateIP, which
// takes the first of several candidates, Choose refuses to guess: with
// several private addresses it returns them all and the operator picks one.
//
// Choose is a pure function of the interfaces it is given; Interfaces reads
// this host's.
package advertise

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Interface is one network interface and its addresses, as net.Interfaces
// and (*net.Interface).Addrs report them.
type Interface struct {
	// Name is the interface's name (eth0).
	Name string
	// Flags are the interface's flags; only net.FlagUp and
	// net.FlagLoopback matter here.
	Flags net.Flags
	// Addrs are the interface's addresses with their prefix lengths.
	Addrs []netip.Prefix
}

// Candidate is a private IPv4 address and the interface that carries it.
type Candidate struct {
	IP        netip.Addr
	Interface string
}

// String formats c as "10.1.2.3 (eth0)".
func (c Candidate) String() string { return c.IP.String() + " (" + c.Interface + ")" }

// Private lists the IPv4 blocks that count as private: RFC 1918's three and
// RFC 6598's shared address space (carrier-grade NAT, used by some
// Kubernetes and cloud networks), the four memberlist's IsPrivateIP knew.
var Private = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
}

// Candidates returns every private IPv4 address (Private) of an interface
// that is up and not a loopback, in the order given, each address once (the
// first interface that carries it names it). Loopback and link-local
// addresses never count, nor does IPv6.
func Candidates(ifaces []Interface) []Candidate {
	var out []Candidate
	seen := map[netip.Addr]bool{}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		for _, p := range ifc.Addrs {
			ip := p.Addr().Unmap()
			if !ip.Is4() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || !isPrivate(ip) || seen[ip] {
				continue
			}
			seen[ip] = true
			out = append(out, Candidate{IP: ip, Interface: ifc.Name})
		}
	}
	return out
}

// Choose returns the host's only private IPv4 address (Candidates). With
// none it returns an error wrapping ErrNoPrivateIPv4 that lists what the
// interfaces carry instead; with several, one wrapping ErrSeveralPrivateIPv4
// that lists them all.
func Choose(ifaces []Interface) (Candidate, error) {
	c := Candidates(ifaces)
	switch len(c) {
	case 1:
		return c[0], nil
	case 0:
		var seen []string
		for _, ifc := range ifaces {
			state := ""
			if ifc.Flags&net.FlagUp == 0 {
				state = ", down"
			}
			for _, p := range ifc.Addrs {
				seen = append(seen, fmt.Sprintf("%s (%s%s)", p.Addr().Unmap(), ifc.Name, state))
			}
		}
		if len(seen) == 0 {
			return Candidate{}, fmt.Errorf("%w (%s) on an interface that is up; the interfaces carry no address at all", ErrNoPrivateIPv4, blocks())
		}
		return Candidate{}, fmt.Errorf("%w (%s) on an interface that is up; the interfaces carry %s", ErrNoPrivateIPv4, blocks(), strings.Join(seen, ", "))
	default:
		s := make([]string, len(c))
		for i, x := range c {
			s[i] = x.String()
		}
		return Candidate{}, fmt.Errorf("%w: %s", ErrSeveralPrivateIPv4, strings.Join(s, ", "))
	}
}

// Interfaces returns this host's interfaces and their addresses, for Choose.
func Interfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("advertise: listing interfaces: %w", err)
	}
	out := make([]Interface, 0, len(ifs))
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("advertise: addresses of %s: %w", ifc.Name, err)
		}
		x := Interface{Name: ifc.Name, Flags: ifc.Flags}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			ones, _ := n.Mask.Size()
			ip = ip.Unmap()
			if ip.Is4() && ones > 32 {
				ones -= 96
			}
			x.Addrs = append(x.Addrs, netip.PrefixFrom(ip, ones))
		}
		out = append(out, x)
	}
	return out, nil
}

func isPrivate(ip netip.Addr) bool {
	for _, b := range Private {
		if b.Contains(ip) {
			return true
		}
	}
	return false
}

func blocks() string {
	s := make([]string, len(Private))
	for i, b := range Private {
		s[i] = b.String()
	}
	return strings.Join(s, ", ")
}
