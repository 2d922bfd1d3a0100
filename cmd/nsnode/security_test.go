package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecurityUsageErrors: unusable security and limit flags exit 2 naming
// the flag (or its environment variable).
func TestSecurityUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := []string{"--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--http-addr", "", "--resp-addr", ""}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"tls ca alone", nil, []string{"--tls-ca", bad}, "--tls-cert"},
		{"tls files not PEM", nil, []string{"--tls-ca", bad, "--tls-cert", bad, "--tls-key", bad}, "tlsutil"},
		{"gossip key file", nil, []string{"--gossip-key-file", bad}, "--gossip-key-file"},
		{"gossip key file from the environment", map[string]string{"NSNODE_GOSSIP_KEY_FILE": filepath.Join(dir, "absent")}, nil, "--gossip-key-file"},
		{"token file", nil, []string{"--auth-token-file", filepath.Join(dir, "absent")}, "--auth-token-file"},
		{"negative in-flight", nil, []string{"--max-stream-in-flight", "-1"}, "--max-stream-in-flight"},
		{"negative streams", nil, []string{"--max-concurrent-streams", "-1"}, "--max-concurrent-streams"},
		{"label too long", nil, []string{"--cluster-label", strings.Repeat("l", 300)}, "label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runNsnode(t, tc.env, append(append([]string{}, ports...), tc.args...)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, exitUsage, errs)
			}
			if !strings.Contains(errs, tc.want) {
				t.Fatalf("stderr %q does not name %q", errs, tc.want)
			}
		})
	}
}
