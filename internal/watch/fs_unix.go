//go:build unix

package watch

import (
	"errors"
	"io/fs"
	"syscall"
)

// openFlags makes opening a FIFO or device that raced in after the stat
// return at once instead of blocking Run.
const openFlags = syscall.O_NONBLOCK

func devIno(fi fs.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		// Dev and Ino are not uint64 on every unix.
		return uint64(st.Dev), uint64(st.Ino)
	}
	return 0, 0
}

func absentErrno(err error) bool {
	return errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP)
}

// limitHint names the inotify sysctl behind err, if any (fsnotify.Watcher
// docs: reaching a limit shows as ENOSPC or EMFILE).
func limitHint(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "inotify watch limit reached: raise fs.inotify.max_user_watches"
	case errors.Is(err, syscall.EMFILE):
		return "inotify instance or file limit reached: raise fs.inotify.max_user_instances or the open-file limit"
	}
	return ""
}
