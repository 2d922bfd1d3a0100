package chartcheck

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"
)

const (
	// chartDir is the chart, relative to this package.
	chartDir = "../ns"
	// repoRoot is the main module's root, relative to this package.
	repoRoot = "../../.."
	// defaultKubeVersion is what `helm template` assumes (a helm built by
	// `go install` has no ldflags and would assume v1.20); KUBE_VERSION
	// overrides it.
	defaultKubeVersion = "1.37.0"
	// release and namespace of every render (and of the plain manifests).
	release   = "ns"
	namespace = "default"
)

// helmBin finds helm: $HELM, then the repository's bin/helm (make tools),
// then PATH.
func helmBin(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	if p, err := filepath.Abs(filepath.Join(repoRoot, "bin", "helm")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	t.Fatal("helm not found: run `make helm-check` (it installs the pinned helm into ./bin) or set HELM")
	return ""
}

func kubeVersion() string {
	if v := os.Getenv("KUBE_VERSION"); v != "" {
		return v
	}
	return defaultKubeVersion
}

// render runs `helm template` with the values (YAML) and returns its output
// and error (stderr included in the error).
func render(t *testing.T, values string) ([]byte, error) {
	t.Helper()
	args := []string{"template", release, chartDir, "--namespace", namespace, "--kube-version", kubeVersion()}
	if values != "" {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(values), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", f)
	}
	cmd := exec.Command(helmBin(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// decoder is a strict universal deserializer for the kinds the chart emits:
// unknown fields, duplicate keys and case mismatches are errors, as with the
// API server's strict field validation; an unregistered kind is an error.
var decoder = sync.OnceValue(func() runtime.Decoder {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	s.AddKnownTypeWithName(serviceMonitorGVK, &ServiceMonitor{})
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
})

// objects is one render, decoded.
type objects struct {
	sts      []*appsv1.StatefulSet
	svcs     []*corev1.Service
	pdbs     []*policyv1.PodDisruptionBudget
	sas      []*corev1.ServiceAccount
	monitors []*ServiceMonitor
	all      []runtime.Object
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// decodeAll splits a multi-document YAML stream and strictly decodes each
// document that is not empty or only comments.
func decodeAll(t *testing.T, out []byte) objects {
	t.Helper()
	var objs objects
	for i, doc := range docSep.Split(string(out), -1) {
		if isBlank(doc) {
			continue
		}
		// Duplicate keys first, on the raw document (the decoder below
		// reports them too, but this names the key plainly).
		if _, err := yaml.YAMLToJSONStrict([]byte(doc)); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		obj, gvk, err := decoder().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("document %d (%v): strict decode: %v\n%s", i, gvk, err, doc)
		}
		objs.all = append(objs.all, obj)
		switch o := obj.(type) {
		case *appsv1.StatefulSet:
			objs.sts = append(objs.sts, o)
		case *corev1.Service:
			objs.svcs = append(objs.svcs, o)
		case *policyv1.PodDisruptionBudget:
			objs.pdbs = append(objs.pdbs, o)
		case *corev1.ServiceAccount:
			objs.sas = append(objs.sas, o)
		case *ServiceMonitor:
			objs.monitors = append(objs.monitors, o)
		default:
			t.Fatalf("document %d: unexpected kind %v", i, gvk)
		}
		if gvk.Kind == "" || gvk.Version == "" {
			t.Fatalf("document %d: no apiVersion/kind", i)
		}
	}
	return objs
}

func isBlank(doc string) bool {
	for _, l := range strings.Split(doc, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// nsnodeFlags returns the flags `nsnode --help` lists: of $NSNODE when set,
// else of an nsnode built from the main module.
var nsnodeFlags = sync.OnceValues(func() (map[string]bool, error) {
	bin := os.Getenv("NSNODE")
	if bin == "" {
		dir, err := os.MkdirTemp("", "chartcheck-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "nsnode")
		build := exec.Command("go", "build", "-o", bin, "./cmd/nsnode")
		build.Dir = repoRoot
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building nsnode (or set NSNODE to a binary): %v\n%s", err, out)
		}
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("nsnode --help: %v\n%s", err, out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if !flags["grpc-addr"] || !flags["join"] {
		return nil, fmt.Errorf("could not parse nsnode --help:\n%s", out)
	}
	return flags, nil
})
