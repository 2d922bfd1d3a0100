package cluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
)

// Gossip encryption: memberlist encrypts every gossip message (UDP and TCP)
// with AES-GCM under the keyring's primary key and accepts messages under
// any installed key. A key is rotated with no downtime in three steps, each
// done on every node before the next: InstallKey(new), UseKey(new),
// RemoveKey(old). With Config.SecretKey unset gossip is plaintext and the
// keyring methods return ErrNoEncryption: encryption cannot be turned on in a
// running cluster.

// ParseKeys parses a gossip key file: one base64 key (standard encoding,
// padded or not) per line, blank lines and # comments ignored, each decoding
// to 16, 24 or 32 bytes (AES-128, -192, -256). The first key is the primary
// one; the others are installed too, so a file can carry a key being
// rotated in or out. A file that is not base64 but exactly 16, 24 or 32
// bytes long is taken as one raw key (e.g. `head -c32 /dev/urandom`).
func ParseKeys(b []byte) ([][]byte, error) {
	var keys [][]byte
	var bad error
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, err := decodeKey(line)
		if err != nil {
			bad = fmt.Errorf("%w: line %d: %v", ErrBadKey, i+1, err)
			break
		}
		keys = append(keys, k)
	}
	if bad == nil && len(keys) > 0 {
		return keys, nil
	}
	switch len(b) {
	case 16, 24, 32:
		return [][]byte{bytes.Clone(b)}, nil
	}
	if bad != nil {
		return nil, bad
	}
	return nil, fmt.Errorf("%w: no key in the file", ErrBadKey)
}

func decodeKey(line []byte) ([]byte, error) {
	enc := base64.StdEncoding
	if len(line)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	k := make([]byte, enc.DecodedLen(len(line)))
	n, err := enc.Decode(k, line)
	if err != nil {
		return nil, fmt.Errorf("not base64: %v", err)
	}
	k = k[:n]
	if err := ValidateKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// ValidateKey returns an error wrapping ErrBadKey unless k is 16, 24 or 32
// bytes long.
func ValidateKey(k []byte) error {
	switch len(k) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("%w: %d bytes, want 16, 24 or 32", ErrBadKey, len(k))
}

// ReadKeyFile reads and parses a gossip key file (see ParseKeys).
func ReadKeyFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	keys, err := ParseKeys(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// EncodeKey returns k in the key file's encoding (standard base64).
func EncodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// KeyFingerprint names a key without revealing it: the first 8 bytes of its
// SHA-256, in hex. `nsctl gossip-key list` shows fingerprints only.
func KeyFingerprint(k []byte) string {
	s := sha256.Sum256(k)
	return hex.EncodeToString(s[:8])
}

// Encrypted reports whether gossip is encrypted.
func (c *Cluster) Encrypted() bool { return c.keyring != nil }

// InstallKey adds k to the keyring: this node accepts gossip encrypted
// under it from now on, and still sends under the primary key. Installing
// an installed key does nothing.
func (c *Cluster) InstallKey(k []byte) error {
	if c.keyring == nil {
		return ErrNoEncryption
	}
	if err := ValidateKey(k); err != nil {
		return err
	}
	if err := c.keyring.AddKey(k); err != nil {
		return fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	c.log.Info("cluster: gossip key installed", "key", KeyFingerprint(k))
	return nil
}

// UseKey makes the installed key k the primary key: gossip is sent under
// it from now on. Every node must have installed k first, or they drop this
// node's messages.
func (c *Cluster) UseKey(k []byte) error {
	if c.keyring == nil {
		return ErrNoEncryption
	}
	if err := c.keyring.UseKey(k); err != nil {
		return fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	c.log.Info("cluster: gossip primary key changed", "key", KeyFingerprint(k))
	return nil
}

// RemoveKey removes k from the keyring; the primary key cannot be removed.
// Removing a key that is not installed does nothing.
func (c *Cluster) RemoveKey(k []byte) error {
	if c.keyring == nil {
		return ErrNoEncryption
	}
	if err := c.keyring.RemoveKey(k); err != nil {
		return fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	c.log.Info("cluster: gossip key removed", "key", KeyFingerprint(k))
	return nil
}

// Keys returns the primary key and every installed key (the primary
// first), nil when gossip is not encrypted. The slices are copies.
func (c *Cluster) Keys() (primary []byte, all [][]byte) {
	if c.keyring == nil {
		return nil, nil
	}
	for _, k := range c.keyring.GetKeys() {
		all = append(all, bytes.Clone(k))
	}
	return bytes.Clone(c.keyring.GetPrimaryKey()), all
}
