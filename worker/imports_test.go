package worker

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsLeaf: worker is a leaf (DESIGN.md's layer table); of our
// packages it may use only internal/hist, which imports nothing of ours.
func TestImportsLeaf(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/nothingshared/ns/worker").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case !strings.HasPrefix(pkg, "github.com/nothingshared/ns/"),
			pkg == "github.com/nothingshared/ns/worker",
			pkg == "github.com/nothingshared/ns/internal/hist":
		default:
			t.Errorf("worker depends on %s", pkg)
		}
	}
}
