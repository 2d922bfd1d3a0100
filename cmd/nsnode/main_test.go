package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nothingshared/ns/cluster"
)

func runNsnode(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

// TestUsageErrors: a bad flag or value exits 2 with a message naming it,
// before anything binds a socket.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown flag", nil, []string{"--nope"}, "--nope"},
		{"bad int", nil, []string{"--workers", "x"}, "--workers"},
		{"zero workers", nil, []string{"--workers", "0"}, "--workers 0"},
		{"queue not power of two", nil, []string{"--queue-size", "1000"}, "--queue-size"},
		{"negative backups", nil, []string{"--backups", "-1"}, "--backups"},
		{"unknown placement", nil, []string{"--placement", "v4"}, "--placement"},
		{"unknown placement from env", map[string]string{"NSNODE_PLACEMENT": "2"}, nil, "--placement"},
		{"bad gossip addr", nil, []string{"--gossip-addr", "nope"}, "--gossip-addr"},
		{"bad log level", nil, []string{"--log-level", "loud"}, "--log-level"},
		{"zero gc percent", nil, []string{"--gc-percent", "0"}, "--gc-percent 0"},
		{"negative gc percent from env", map[string]string{"NSNODE_GC_PERCENT": "-1"}, nil, "--gc-percent -1"},
		{"bad log format", nil, []string{"--log-format", "xml"}, "--log-format"},
		{"bad sample ratio", nil, []string{"--trace-sample-ratio", "2"}, "--trace-sample-ratio"},
		{"zero key limit", nil, []string{"--max-key-bytes", "0"}, "--max-key-bytes"},
		{"bad fsync mode", nil, []string{"--data-dir", "x", "--fsync", "sometimes"}, "--fsync"},
		{"bad fsync mode from env", map[string]string{"NSNODE_FSYNC": "sometimes"}, nil, "--fsync"},
		{"tiny wal segments", nil, []string{"--wal-segment-bytes", "10"}, "--wal-segment-bytes"},
		{"zero recovery wait", nil, []string{"--recovery-wait", "0s"}, "--recovery-wait"},
		{"negative max memory from env", map[string]string{"NSNODE_MAX_MEMORY": "-1"}, nil, "--max-memory"},
		{"bad env value", map[string]string{"NSNODE_WORKERS": "many"}, nil, "NSNODE_WORKERS"},
		{"bad resp addr", nil, []string{"--resp-addr", "nope"}, "--resp-addr"},
		{"bad resp addr from env", map[string]string{"NSNODE_RESP_ADDR": "nope"}, nil, "--resp-addr"},
		{"negative resp idle timeout", nil, []string{"--resp-idle-timeout", "-1s"}, "--resp-idle-timeout"},
		{"resp cluster without resp", map[string]string{"NSNODE_RESP_CLUSTER": "true"}, []string{"--resp-addr", ""}, "--resp-cluster needs --resp-addr"},
		{"positional args", nil, []string{"extra"}, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runNsnode(t, tc.env, tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, exitUsage, errs)
			}
			if !strings.Contains(errs, tc.want) {
				t.Fatalf("stderr %q does not name %q", errs, tc.want)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := runNsnode(t, nil, "--version")
	if code != exitOK || !strings.HasPrefix(out, "nsnode ") {
		t.Fatalf("--version: exit %d, %q", code, out)
	}
	code, out, _ = runNsnode(t, nil, "--help")
	if code != exitOK || !strings.Contains(out, "NSNODE_") || !strings.Contains(out, "--grpc-addr") {
		t.Fatalf("--help: exit %d, %q", code, out)
	}
}

// TestEnvironment: NSNODE_* variables set flags; the command line wins.
func TestEnvironment(t *testing.T) {
	code, _, errs := runNsnode(t, map[string]string{"NSNODE_LOG_FORMAT": "xml"}, "--log-format", "json", "--workers", "0")
	// --workers 0 fails after the environment is applied: the error must
	// be about workers, not about the overridden log format.
	if code != exitUsage || !strings.Contains(errs, "--workers") {
		t.Fatalf("exit %d, %q", code, errs)
	}
	code, _, errs = runNsnode(t, map[string]string{"NSNODE_LOG_FORMAT": "xml"})
	if code != exitUsage || !strings.Contains(errs, "--log-format") {
		t.Fatalf("env NSNODE_LOG_FORMAT=xml: exit %d, %q", code, errs)
	}
}

// TestGossipProfiles: the default profile is ns's (cluster.DefaultMemberlist,
// passed as nil so the cluster package applies it), lan is memberlist's own
// LAN timings, and a flag overrides one timing of either.
func TestGossipProfiles(t *testing.T) {
	mc, err := gossipFlags{profile: "ns"}.memberlist()
	if err != nil || mc != nil {
		t.Fatalf("ns profile with no overrides = %v, %v; want nil (the cluster default)", mc, err)
	}
	def := cluster.DefaultMemberlist()
	if def.ProbeInterval != 400*time.Millisecond || def.SuspicionMult != 3 {
		t.Fatalf("cluster.DefaultMemberlist: probe %v, suspicion mult %d", def.ProbeInterval, def.SuspicionMult)
	}
	lan, err := gossipFlags{profile: "lan"}.memberlist()
	if err != nil || lan == nil || lan.ProbeInterval != time.Second || lan.SuspicionMult != 4 {
		t.Fatalf("lan profile = %+v, %v; want memberlist's LAN timings", lan, err)
	}
	if lan.DeadNodeReclaimTime != cluster.DefaultDeadNodeReclaimTime {
		t.Errorf("lan profile: DeadNodeReclaimTime %v", lan.DeadNodeReclaimTime)
	}
	over, err := gossipFlags{profile: "ns", suspicionMult: 5}.memberlist()
	if err != nil || over == nil || over.SuspicionMult != 5 || over.ProbeInterval != def.ProbeInterval {
		t.Fatalf("ns profile, --gossip-suspicion-mult 5 = %+v, %v", over, err)
	}
	if _, err := (gossipFlags{profile: "wan"}).memberlist(); err == nil || !strings.Contains(err.Error(), "want ns, lan or local") {
		t.Fatalf("unknown profile: %v", err)
	}
}
