//go:build !linux

package sink

import "runtime"

// checkMemoryFS always refuses: statfs magic numbers are Linux-specific, so
// there is no reliable way to tell here whether dir is memory-backed.
func checkMemoryFS(dir string) error {
	return &notMemoryFSError{dir: dir, reason: "cannot be checked for tmpfs or ramfs on " +
		runtime.GOOS + ": resolved secrets might be written to disk"}
}
