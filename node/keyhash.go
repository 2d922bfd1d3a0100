package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nothingshared/ns/ring"
)

// keyHashFile, in the data directory, records how its keys are placed in
// partitions (ring.Config.KeyHash): a node never opens data placed by the
// other key hash, whose keys it would look for in the wrong partitions.
const keyHashFile = "keyhash.json"

// keyHashState is keyHashFile's content.
type keyHashState struct {
	// KeyHash is ring.Config.KeyHash: 0 xxhash, 1 Redis Cluster slots.
	KeyHash int `json:"key_hash"`
}

// checkKeyHash compares the data directory's key hash with this node's,
// before anything of the directory is read. Only the slot key hash is
// written down: a directory without the file holds xxhash data (of this
// release or an older one), or nothing. A node with the slot key hash
// writes the file into a directory that holds nothing yet.
func (n *Node) checkKeyHash() error {
	dir, want := n.cfg.DataDir, n.cfg.Ring.KeyHash
	path := filepath.Join(dir, keyHashFile)
	refuse := func(have int, why string) error {
		return fmt.Errorf("%w: --data-dir %s holds keys placed by key hash %d (%s), this node places them by %d: a cluster runs with --resp-cluster, or without, from its creation on (docs/resp.md)",
			ErrInvalidConfig, dir, have, why, want)
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var st keyHashState
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("node: --data-dir: %s: %w", path, err)
		}
		if st.KeyHash != want {
			return refuse(st.KeyHash, keyHashFile)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("node: --data-dir: %w", err)
	}
	if want == ring.KeyHashXX {
		return nil
	}
	_, serr := os.Stat(filepath.Join(dir, stateFile))
	ws, _ := workerDirs(dir)
	if serr == nil || len(ws) > 0 {
		return refuse(ring.KeyHashXX, "data without "+keyHashFile)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("node: --data-dir: %w", err)
	}
	if err := writeFileSync(path, keyHashState{KeyHash: want}); err != nil {
		return fmt.Errorf("node: --data-dir: %w", err)
	}
	return nil
}
