package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoServer keeps the SDK light and the layers apart: the client
// shares the wire (package wire) with the server, never the server itself.
func TestImportsNoServer(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/nothingshared/ns/client").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch pkg {
		case "github.com/nothingshared/ns/transport", "github.com/nothingshared/ns/node", "github.com/nothingshared/ns/cluster":
			t.Errorf("client depends on %s", pkg)
		}
	}
}
