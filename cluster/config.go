package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
)

// Defaults used by DefaultConfig and for zero Config fields.
const (
	// DefaultBindAddr is the gossip bind address when Config.BindAddr is "".
	DefaultBindAddr = "127.0.0.1"
	// DefaultGossipPort is the gossip port DefaultConfig sets.
	DefaultGossipPort = 7946
	// DefaultJoinRetryInterval is the first delay between join attempts.
	DefaultJoinRetryInterval = time.Second
	// MaxJoinRetryInterval caps the exponential backoff between join attempts.
	MaxJoinRetryInterval = 30 * time.Second
	// DefaultReapTimeout is how long Members keeps dead and left members.
	DefaultReapTimeout = 24 * time.Hour
	// DefaultDeadNodeReclaimTime is the memberlist DeadNodeReclaimTime used
	// when Config.Memberlist is nil.
	DefaultDeadNodeReclaimTime = 10 * time.Second
	// maxNodeID bounds Config.NodeID, in bytes.
	maxNodeID = 128
)

// Resolver resolves a host name to IP addresses (every A and AAAA record),
// like net.Resolver.LookupHost. It must be safe for concurrent use and honour
// ctx.
type Resolver func(ctx context.Context, host string) ([]string, error)

// Config configures a Cluster. Zero fields take the defaults documented on
// each; DefaultConfig returns a Config for a one-node cluster on loopback.
type Config struct {
	// NodeID is this node's unique id in the cluster (memberlist's node
	// name). Required; at most 128 bytes of UTF-8 without control characters.
	NodeID string

	// BindAddr is the IP address gossip listens on (UDP and TCP); "" means
	// DefaultBindAddr, "0.0.0.0" every interface.
	BindAddr string
	// BindPort is the gossip port; 0 picks a free port (tests). DefaultConfig
	// sets DefaultGossipPort.
	BindPort int
	// AdvertiseAddr is the IP address other nodes use to reach this one; ""
	// means BindAddr, or memberlist's choice of a private address when bound
	// to every interface.
	AdvertiseAddr string
	// AdvertisePort is the port other nodes use to reach this one; 0 means
	// the bound port.
	AdvertisePort int

	// Join lists the seeds Start joins: host:port, or a DNS name (with or
	// without port) whose every A/AAAA record is a seed, e.g. a Kubernetes
	// headless service. The port defaults to this node's advertised gossip
	// port. Empty means a one-node cluster until another node joins this one.
	Join []string
	// JoinRetryInterval is the first delay between join attempts; it doubles
	// up to MaxJoinRetryInterval. 0 means DefaultJoinRetryInterval.
	JoinRetryInterval time.Duration
	// Resolver resolves DNS seeds; nil means net.DefaultResolver.LookupHost.
	Resolver Resolver

	// Meta is the metadata this node advertises; see Meta.Validate.
	Meta Meta

	// SecretKey, if set, encrypts gossip with AES (16, 24 or 32 bytes); every
	// node needs the same key. nil means no encryption.
	SecretKey []byte
	// Label, if set, is sent with every gossip message, and messages with
	// another label are dropped: it keeps two clusters sharing a network from
	// merging. "" means no label.
	Label string

	// ReapTimeout is how long Members keeps reporting dead and left members.
	// 0 means DefaultReapTimeout.
	ReapTimeout time.Duration

	// ReconnectInterval is how often the node tries to rejoin members it
	// considers dead (not those that left), so that the two sides of a
	// network partition longer than memberlist's GossipToTheDeadTime merge
	// again once it heals (see reconnect.go). 0 means
	// DefaultReconnectInterval; negative disables reconnecting.
	ReconnectInterval time.Duration

	// Memberlist is the memberlist configuration to start from; nil means
	// DefaultMemberlist() (LAN, with faster failure detection and
	// DeadNodeReclaimTime set to DefaultDeadNodeReclaimTime). Without a reclaim time, memberlist refuses a
	// dead node's id at a new address (a restarted Kubernetes pod) until it
	// forgets the dead node, up to a minute later. It is copied, and its Name, BindAddr,
	// BindPort, AdvertiseAddr, AdvertisePort, Delegate, Events, Alive,
	// Logger and LogOutput are overwritten (SecretKey and Label too, when the
	// fields above are set). Tests set Transport to an in-memory network
	// (package memnet).
	Memberlist *memberlist.Config

	// StartEpoch is the epoch of the node's first view (this node alone);
	// 0 or 1 means 1. A node restarted from its data directory passes the
	// newest epoch it saw before, so the tables it builds number above every
	// epoch its recovered data carries. Epochs still only grow as the doc
	// describes: members converge to one past the largest they see.
	StartEpoch uint64

	// Logger receives this package's logs, and memberlist's at debug level;
	// nil discards them.
	Logger *slog.Logger

	// OnView, if set, is called with the current view when Start runs, then
	// with every new view. Calls are serial, from the Cluster's own goroutine,
	// in epoch order; OnView must not block for long (it delays the next
	// view) and must not call Leave or Shutdown (they wait for that
	// goroutine).
	OnView func(View)

	// OnContact, if set, is called each time this node heard directly from
	// member id: a probe of the failure detector, or a Ping, that id
	// answered; at is when the probe was sent. It runs on memberlist's
	// goroutines (or Ping's caller) and must not block.
	OnContact func(id string, at time.Time)
}

// The failure detector's default timings (DefaultMemberlist), tighter than
// memberlist's LAN defaults (probe every 1 s, ack within 500 ms, gossip every
// 200 ms, suspicion multiplier 4), which detect a crash in 5-7 s. With these
// a crashed member of a cluster under ten is declared dead about 2 s after it
// stopped: its first failed probe (each peer probes the members in turn, one
// per probe interval, and a probe may take the whole interval) and the
// suspicion timeout, SuspicionMult x ProbeInterval x max(1, log10(members)):
// 1.2 s under ten members, 2.4 s at 100, 3.6 s at 1,000 (up to six times
// that while no other member confirms the suspicion). A member paused
// (SIGSTOP, a GC stall) for up to about 1.5 s refutes the suspicion before it
// runs out: it reads the suspect message queued in its socket when it
// resumes and answers with a new incarnation within a gossip interval.
// Lifeguard's local-health awareness (memberlist's AwarenessMaxMultiplier)
// stretches the probes of a node that is itself slow. docs/guarantees.md
// (row 6) has the measured figures and the margins of the alternatives.
const (
	DefaultProbeInterval  = 400 * time.Millisecond
	DefaultProbeTimeout   = 200 * time.Millisecond
	DefaultGossipInterval = 100 * time.Millisecond
	DefaultSuspicionMult  = 3
)

// DefaultMemberlist returns the memberlist configuration a Config without
// its own Memberlist starts from: memberlist.DefaultLANConfig with the
// failure-detector timings above and DeadNodeReclaimTime set to
// DefaultDeadNodeReclaimTime.
func DefaultMemberlist() *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.ProbeInterval = DefaultProbeInterval
	mc.ProbeTimeout = DefaultProbeTimeout
	mc.GossipInterval = DefaultGossipInterval
	mc.SuspicionMult = DefaultSuspicionMult
	mc.DeadNodeReclaimTime = DefaultDeadNodeReclaimTime
	return mc
}

// DefaultConfig returns a Config with safe defaults: loopback, gossip on port
// 7946, DefaultMemberlist's timings, no seeds. NodeID must still be set.
func DefaultConfig() Config {
	return Config{
		BindAddr:          DefaultBindAddr,
		BindPort:          DefaultGossipPort,
		JoinRetryInterval: DefaultJoinRetryInterval,
		ReapTimeout:       DefaultReapTimeout,
		ReconnectInterval: DefaultReconnectInterval,
	}
}

// validate checks c and fills in zero fields with defaults.
func (c *Config) validate() error {
	if c.NodeID == "" {
		return ErrNoNodeID
	}
	if len(c.NodeID) > maxNodeID || !utf8.ValidString(c.NodeID) || hasControl(c.NodeID) {
		return fmt.Errorf("%w: node id %q: want at most %d bytes of printable UTF-8", ErrInvalidConfig, c.NodeID, maxNodeID)
	}
	if c.BindAddr == "" {
		c.BindAddr = DefaultBindAddr
	}
	if net.ParseIP(c.BindAddr) == nil {
		return fmt.Errorf("%w: bind address %q is not an IP address", ErrInvalidConfig, c.BindAddr)
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		return fmt.Errorf("%w: advertise address %q is not an IP address", ErrInvalidConfig, c.AdvertiseAddr)
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"bind port", c.BindPort}, {"advertise port", c.AdvertisePort}} {
		if p.v < 0 || p.v > 65535 {
			return fmt.Errorf("%w: %s %d out of range", ErrInvalidConfig, p.name, p.v)
		}
	}
	if c.AdvertisePort != 0 && c.AdvertiseAddr == "" && net.ParseIP(c.BindAddr).IsUnspecified() {
		return fmt.Errorf("%w: advertise port needs an advertise address when binding to %s", ErrInvalidConfig, c.BindAddr)
	}
	for _, s := range c.Join {
		if _, _, err := splitSeed(s, 1); err != nil {
			return fmt.Errorf("%w: join: %w", ErrInvalidConfig, err)
		}
	}
	if c.JoinRetryInterval < 0 || c.ReapTimeout < 0 {
		return fmt.Errorf("%w: negative duration", ErrInvalidConfig)
	}
	if c.JoinRetryInterval == 0 {
		c.JoinRetryInterval = DefaultJoinRetryInterval
	}
	if c.ReapTimeout == 0 {
		c.ReapTimeout = DefaultReapTimeout
	}
	if c.ReconnectInterval == 0 {
		c.ReconnectInterval = DefaultReconnectInterval
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver.LookupHost
	}
	if err := c.Meta.Validate(); err != nil {
		return fmt.Errorf("%w: meta: %w", ErrInvalidConfig, err)
	}
	switch len(c.SecretKey) {
	case 0, 16, 24, 32:
	default:
		return fmt.Errorf("%w: secret key is %d bytes, want 16, 24 or 32", ErrInvalidConfig, len(c.SecretKey))
	}
	if len(c.Label) > memberlist.LabelMaxSize {
		return fmt.Errorf("%w: label longer than %d bytes", ErrInvalidConfig, memberlist.LabelMaxSize)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// memberlistConfig returns the memberlist configuration for c (validated).
func (c *Config) memberlistConfig() *memberlist.Config {
	var mc memberlist.Config
	if c.Memberlist != nil {
		mc = *c.Memberlist
	} else {
		mc = *DefaultMemberlist()
	}
	mc.Name = c.NodeID
	mc.BindAddr = c.BindAddr
	mc.BindPort = c.BindPort
	mc.AdvertiseAddr = c.AdvertiseAddr
	mc.AdvertisePort = c.AdvertisePort
	switch {
	case mc.AdvertiseAddr == "" && mc.AdvertisePort != 0:
		// memberlist ignores an advertise port without an advertise
		// address; validate made sure BindAddr is a specific IP.
		mc.AdvertiseAddr = c.BindAddr
	case mc.AdvertiseAddr != "" && mc.AdvertisePort == 0:
		// memberlist would advertise port 0; with BindPort 0 it fills in
		// the bound port itself.
		mc.AdvertisePort = c.BindPort
	}
	if c.SecretKey != nil {
		mc.SecretKey = c.SecretKey
	}
	if c.Label != "" {
		mc.Label = c.Label
	}
	mc.LogOutput = nil
	mc.Logger = newMemberlistLogger(c.Logger)
	return &mc
}

// splitSeed splits a seed into host and port; a seed without a port gets
// defaultPort. IPv6 literals may be bare ("::1") or bracketed ("[::1]:7946").
func splitSeed(seed string, defaultPort int) (host string, port int, err error) {
	if seed == "" {
		return "", 0, fmt.Errorf("empty seed")
	}
	if ip := net.ParseIP(seed); ip != nil {
		return seed, defaultPort, nil
	}
	h, p, err := net.SplitHostPort(seed)
	if err != nil {
		if len(seed) > 2 && seed[0] == '[' && seed[len(seed)-1] == ']' {
			h = seed[1 : len(seed)-1]
			if net.ParseIP(h) == nil {
				return "", 0, fmt.Errorf("seed %q: bad IPv6 literal", seed)
			}
			return h, defaultPort, nil
		}
		if _, _, err2 := net.SplitHostPort(seed + ":1"); err2 != nil {
			return "", 0, fmt.Errorf("seed %q: %v", seed, err)
		}
		return seed, defaultPort, nil
	}
	if h == "" {
		return "", 0, fmt.Errorf("seed %q: no host", seed)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("seed %q: bad port %q", seed, p)
	}
	return h, n, nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}
