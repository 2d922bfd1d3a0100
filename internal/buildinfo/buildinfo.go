// Package buildinfo carries the version and commit stamped in by the linker
// (see the Makefile's LDFLAGS), printed by `nsnode --version` and `nsctl version`.
package buildinfo

import "runtime/debug"

// Version and Commit are set with -ldflags "-X ...". They default to "dev" and
// to the VCS revision recorded by the go command, when there is one.
var (
	Version = "dev"
	Commit  = ""
)

// String returns "version (commit)".
func String() string {
	c := Commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 7 {
					c = s.Value[:7]
				}
			}
		}
	}
	if c == "" {
		c = "none"
	}
	return Version + " (" + c + ")"
}
