package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// chromiumPath finds a headless-capable Chromium, or skips loudly.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "SKIPPED: TestStatusPage needs Chromium (Debian: apt-get install -y chromium; .ci/run installs it)"
	fmt.Fprintln(os.Stderr, "!!!!", msg)
	t.Skip(msg)
	return ""
}

// chromium runs headless Chromium with a private profile and the given
// extra arguments, returning its stdout.
func chromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

var (
	reNodeCount = regexp.MustCompile(`<b id="node-count">(\d+)</b>`)
	reRing      = regexp.MustCompile(`<svg id="ring"[^>]*data-partitions="(\d+)"[^>]*data-members="(\d+)"`)
	reSegment   = regexp.MustCompile(`<path [^>]*data-partition="\d+" data-owner="([^"]+)"`)
	reJSErrors  = regexp.MustCompile(`<pre id="js-errors" data-count="(\d+)"[^>]*>([^<]*)</pre>`)
	reRenders   = regexp.MustCompile(`<body data-renders="(\d+)"`)
	reWorkerRow = regexp.MustCompile(`<tbody><tr><td>0</td>`)
)

// TestStatusPage loads the status page of a 3-node cluster in headless
// Chromium, lets it poll, and checks what it drew: three nodes, a ring with
// a segment per partition coloured by three owners, worker rows, no
// JavaScript error. It saves a screenshot in the test's temp directory
// (NS_STATUS_SCREENSHOT=path keeps a copy).
func TestStatusPage(t *testing.T) {
	bin := chromiumPath(t)
	n1 := startNode(t, "s1", nil)
	n2 := startNode(t, "s2", []string{n1.gossip})
	n3 := startNode(t, "s3", []string{n1.gossip})
	nodes := []*proc{n1, n2, n3}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFor(t, 30*time.Second, "3 nodes agree", func() (bool, string) { return agreed(ctx, nodes, 3) })
	for i := 0; i < 200; i++ {
		if _, err := n1.kv().Put(ctx, &nsv1.PutRequest{Key: []byte(fmt.Sprint("key", i)), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}

	url := "http://" + n1.http + "/"
	dom := chromium(t, bin, "--virtual-time-budget=4000", "--dump-dom", url)
	if m := reJSErrors.FindStringSubmatch(dom); m == nil {
		t.Fatalf("no #js-errors element in the DOM:\n%s", dom)
	} else if m[1] != "0" {
		t.Fatalf("the page raised %s JavaScript errors:\n%s", m[1], m[2])
	}
	if m := reRenders.FindStringSubmatch(dom); m == nil || m[1] == "0" {
		t.Fatalf("the page never rendered a status (body %v)", m)
	}
	if m := reNodeCount.FindStringSubmatch(dom); m == nil || m[1] != "3" {
		t.Fatalf("node count shown: %v, want 3", m)
	}
	m := reRing.FindStringSubmatch(dom)
	if m == nil {
		t.Fatal("ring not rendered")
	}
	parts, _ := strconv.Atoi(m[1])
	if parts == 0 || m[2] != "3" {
		t.Fatalf("ring: %s partitions, %s members", m[1], m[2])
	}
	segs := reSegment.FindAllStringSubmatch(dom, -1)
	owners := map[string]int{}
	for _, s := range segs {
		owners[s[1]]++
	}
	if len(segs) != parts || len(owners) != 3 {
		t.Fatalf("ring has %d segments for %d partitions, owners %v", len(segs), parts, owners)
	}
	if !reWorkerRow.MatchString(dom) {
		t.Error("no worker rows")
	}
	for _, id := range []string{"s1", "s2", "s3"} {
		if !strings.Contains(dom, `data-member="`+id+`"`) {
			t.Errorf("member %s missing from the members table", id)
		}
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, bin, "--virtual-time-budget=3000", "--window-size=1400,1000", "--screenshot="+shot, url)
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v (size %v)", shot, err, st)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, st.Size())
	if keep := os.Getenv("NS_STATUS_SCREENSHOT"); keep != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(keep, b, 0o644); err != nil {
			t.Error(err)
		}
	}
}
