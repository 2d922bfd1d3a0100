package chartcheck

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite "+manifestsPath+" from the chart (make k8s-manifests)")

const (
	manifestsPath   = "../manifests/ns.yaml"
	manifestsHeader = `# Plain Kubernetes manifests for ns: the Helm chart deploy/k8s/ns rendered with
# its default values, release "ns", namespace "default" (the --join address
# names the namespace: use the chart for any other).
#
#   kubectl apply -f deploy/k8s/manifests/ns.yaml
#
# GENERATED: do not edit. Change the chart and run 'make k8s-manifests';
# 'make helm-check' fails when this file is stale.
`
)

// TestManifestsInSync: the plain manifests are exactly `helm template` with
// default values.
func TestManifestsInSync(t *testing.T) {
	out, err := render(t, "")
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(manifestsHeader), out...)
	if *update {
		if err := os.WriteFile(manifestsPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", manifestsPath)
	}
	have, err := os.ReadFile(manifestsPath)
	if err != nil {
		t.Fatalf("%v: run 'make k8s-manifests'", err)
	}
	if !bytes.Equal(have, want) {
		t.Fatalf("%s is stale: run 'make k8s-manifests' and commit the result", manifestsPath)
	}
	// And they decode and keep the invariants (the defaults scenario of
	// TestChartRenders checks the same bytes; this guards a hand edit).
	decodeAll(t, have)
}
