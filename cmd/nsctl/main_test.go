package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runNsctl runs nsctl in-process with env (NAME=value pairs) and returns
// its exit code, stdout and stderr.
func runNsctl(t *testing.T, stdin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	getenv := func(k string) string {
		for _, kv := range env {
			if name, v, ok := strings.Cut(kv, "="); ok && name == k {
				return v
			}
		}
		return ""
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestExitCodes(t *testing.T) {
	dead := deadAddr(t)
	missing := filepath.Join(t.TempDir(), "nope")
	cases := []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string // substring of stderr
		stdout string // substring of stdout
	}{
		{"help", nil, []string{"--help"}, exitOK, "", "Exit codes:"},
		{"help of a command has examples", nil, []string{"bench", "--help"}, exitOK, "", "Examples:"},
		{"completion", nil, []string{"completion", "bash"}, exitOK, "", "bash completion"},
		{"version client", nil, []string{"version", "--client"}, exitOK, "", "nsctl"},
		{"unknown command", nil, []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`, ""},
		{"unknown flag", nil, []string{"members", "--frob"}, exitUsage, "unknown flag: --frob", ""},
		{"missing argument", nil, []string{"get"}, exitUsage, "want 1 argument(s) (KEY), got 0", ""},
		{"extra argument", nil, []string{"members", "x"}, exitUsage, "want 0 argument(s)", ""},
		{"cas arguments", nil, []string{"cas", "k", "v"}, exitUsage, "(KEY OLD NEW)", ""},
		{"cas absent arguments", nil, []string{"cas", "--absent", "k", "a", "b"}, exitUsage, "(KEY NEW)", ""},
		{"cas two stdins", nil, []string{"cas", "k", "-", "-"}, exitUsage, "both", ""},
		{"bad output", nil, []string{"-o", "xml", "members"}, exitUsage, `-o "xml"`, ""},
		{"bad output from env", []string{"NSCTL_OUTPUT=xml"}, []string{"members"}, exitUsage, `-o "xml"`, ""},
		{"bad timeout from env", []string{"NSCTL_TIMEOUT=soon"}, []string{"members"}, exitUsage, "NSCTL_TIMEOUT", ""},
		{"zero timeout", nil, []string{"--timeout", "0s", "members"}, exitUsage, "--timeout", ""},
		{"bad timeout", nil, []string{"--timeout", "x", "members"}, exitUsage, "invalid argument", ""},
		{"empty endpoints", nil, []string{"--endpoints", ",", "members"}, exitUsage, "--endpoints is empty", ""},
		{"endpoint without port", nil, []string{"--endpoints", "localhost", "members"}, exitUsage, "not host:port", ""},
		{"bad incr", nil, []string{"incr", "k", "--by", "x"}, exitUsage, "--by", ""},
		{"negative ttl", nil, []string{"put", "k", "v", "--ttl", "-1s"}, exitUsage, "--ttl", ""},
		{"missing value file", nil, []string{"put", "k", "@" + missing}, exitUsage, "no such file", ""},
		{"stats interval", nil, []string{"stats", "--watch", "--interval", "0s"}, exitUsage, "--interval", ""},
		{"bench clients", nil, []string{"bench", "-c", "0"}, exitUsage, "-c 0", ""},
		{"bench ops", nil, []string{"bench", "--ops", "put,frob"}, exitUsage, `unknown op "frob"`, ""},
		{"bench weight", nil, []string{"bench", "--ops", "put:0,get:1"}, exitUsage, "positive integer", ""},
		{"bench batch", nil, []string{"bench", "--batch", "5000"}, exitUsage, "--batch", ""},
		{"hotkeys limit", nil, []string{"hotkeys", "--limit", "0"}, exitUsage, "--limit", ""},
		{"unreachable", nil, []string{"--endpoints", dead, "--timeout", "2s", "members"}, exitUnreachable,
			"cannot reach " + dead + ": is nsnode running? use --endpoints", ""},
		{"unreachable from env", []string{"NSCTL_ENDPOINTS=" + dead}, []string{"--timeout", "2s", "get", "k"}, exitUnreachable,
			"cannot reach " + dead, ""},
		{"unreachable bench", nil, []string{"--endpoints", dead, "--timeout", "2s", "bench", "-n", "10"}, exitUnreachable, "cannot reach", ""},
		{"unreachable version prints the client", nil, []string{"--endpoints", dead, "--timeout", "2s", "version"}, exitUnreachable, "cannot reach", "nsctl "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runNsctl(t, "", c.env, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out, errs)
			}
			if !strings.Contains(errs, c.stderr) {
				t.Errorf("stderr %q does not contain %q", errs, c.stderr)
			}
			if !strings.Contains(out, c.stdout) {
				t.Errorf("stdout %q does not contain %q", out, c.stdout)
			}
			if c.code != exitOK && strings.Contains(out, "Usage:") {
				t.Errorf("usage text on stdout for an error: %s", out)
			}
		})
	}
}

func TestReadValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v")
	if err := os.WriteFile(path, []byte("from file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &app{stdin: strings.NewReader("from stdin")}
	for _, c := range []struct{ arg, want string }{
		{"plain", "plain"}, {"@" + path, "from file\n"}, {"-", "from stdin"}, {"@", "@"}, {"", ""},
	} {
		t.Run(c.arg, func(t *testing.T) {
			got, err := a.readValue(c.arg)
			if err != nil || string(got) != c.want {
				t.Fatalf("readValue(%q) = %q, %v; want %q", c.arg, got, err, c.want)
			}
		})
	}
}

func TestParseOps(t *testing.T) {
	for _, c := range []struct {
		in    string
		ops   []opWeight
		mixed bool
		err   bool
	}{
		{in: "put", ops: []opWeight{{opPut, 1}}},
		{in: "put,get", ops: []opWeight{{opPut, 1}, {opGet, 1}}},
		{in: " get , incr ", ops: []opWeight{{opGet, 1}, {opIncr, 1}}},
		{in: "put:1,get:9", ops: []opWeight{{opPut, 1}, {opGet, 9}}, mixed: true},
		{in: "put:2,del", ops: []opWeight{{opPut, 2}, {opDel, 1}}, mixed: true},
		{in: "", err: true},
		{in: "put,put", err: true},
		{in: "put:-1", err: true},
		{in: "put:x", err: true},
		{in: "set", err: true},
	} {
		t.Run(c.in, func(t *testing.T) {
			ops, mixed, err := parseOps(c.in)
			if (err != nil) != c.err {
				t.Fatalf("err = %v, want error %v", err, c.err)
			}
			if c.err {
				return
			}
			if mixed != c.mixed || len(ops) != len(c.ops) {
				t.Fatalf("got %v mixed %v, want %v mixed %v", ops, mixed, c.ops, c.mixed)
			}
			for i := range ops {
				if ops[i] != c.ops[i] {
					t.Fatalf("got %v, want %v", ops, c.ops)
				}
			}
		})
	}
}

func TestWithRates(t *testing.T) {
	prev := []nodeStatsView{{Node: "n1", Processed: 100, Workers: []workerStatsView{{ID: 0, Processed: 40}, {ID: 1, Processed: 60}}},
		{Node: "n2", Error: "down"}}
	cur := []nodeStatsView{{Node: "n1", Processed: 300, Workers: []workerStatsView{{ID: 0, Processed: 140}, {ID: 1, Processed: 160}}},
		{Node: "n2", Processed: 5}, {Node: "n3"}}
	withRates(prev, cur, 2e9)
	if cur[0].Rate == nil || *cur[0].Rate != 100 || *cur[0].Workers[0].Rate != 50 || *cur[0].Workers[1].Rate != 50 {
		t.Fatalf("rates of n1: %+v", cur[0])
	}
	if cur[1].Rate != nil || cur[2].Rate != nil {
		t.Fatalf("a node without two good samples got a rate: %+v %+v", cur[1], cur[2])
	}
}
