//go:build unix

package sink

import (
	"os"
	"syscall"
)

// fileGID returns the group owning the file fi describes.
func fileGID(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Gid), true
}
