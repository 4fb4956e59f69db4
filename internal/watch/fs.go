package watch

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"

	"github.com/fsnotify/fsnotify"

	"omsecrets/internal/safefile"
)

// hashLimit is the largest file whose content is hashed. Definitions are a
// few kilobytes; a larger file is compared by its stat identity instead.
const hashLimit = 1 << 20

// fingerprint is what the watcher remembers of a file to tell a real
// change from noise.
//
// Content decides: a file is changed when its size or content hash
// differs. The stat identity (device, inode, mtime) cannot decide alone: a
// Kubernetes ..data swap gives every file a new inode although most are
// unchanged, rewriting identical bytes (json.dump of the same config)
// touches mtime, and an in-place edit of the same size within one mtime
// tick (coarse on most kernels) changes nothing in the stat at all. The
// stat identity is kept as the fallback for files too large to hash or
// unreadable, so those are still noticed when they change.
type fingerprint struct {
	size int64
	// sum is a keyed hash of the content, valid when hashed.
	sum    uint64
	hashed bool

	dev, ino uint64
	mtime    int64
}

// same reports whether f and g describe the same content.
func (f fingerprint) same(g fingerprint) bool {
	if f.hashed && g.hashed {
		return f.size == g.size && f.sum == g.sum
	}
	return f == g
}

// filesystem is what the watcher asks of the filesystem; tests fake it.
type filesystem interface {
	// list returns the names in dir.
	list(dir string) ([]string, error)
	// checkDir returns nil when dir is a directory (after symlinks).
	checkDir(dir string) error
	// fingerprint follows symlinks; ok is false when path is absent, a
	// dangling symlink or not a regular file. An error means it could not
	// tell.
	fingerprint(path string) (fp fingerprint, ok bool, err error)
	// whole reports whether path (after symlinks) is a regular file of
	// at most hashLimit bytes whose content is one complete JSON object
	// (completeJSONObject). Anything else, errors included, is false:
	// the caller then waits for quiet as for any other file.
	whole(path string) bool
}

// errNotDir is returned by checkDir for a path that exists but is not a
// directory.
var errNotDir = errors.New("not a directory")

// osFS is the real filesystem. seed keys the content hash; it is drawn
// per Watcher so sums mean nothing outside the process.
type osFS struct {
	seed maphash.Seed
}

func (osFS) list(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return f.Readdirnames(-1)
}

func (osFS) checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errNotDir
	}
	return nil
}

func (o osFS) fingerprint(path string) (fingerprint, bool, error) {
	// Stat first so nothing but a regular file is ever opened (opening a
	// FIFO would block, a device may have side effects); open non-blocking
	// and check again on the descriptor in case it was swapped meanwhile.
	fi, err := os.Stat(path)
	if err != nil {
		if absent(err) {
			return fingerprint{}, false, nil
		}
		return fingerprint{}, false, err
	}
	if !fi.Mode().IsRegular() {
		return fingerprint{}, false, nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		if absent(err) {
			return fingerprint{}, false, nil
		}
		// Present but unreadable (permissions): report it by its stat
		// identity so the consumer gets to see the error, and a later fix
		// shows up as a change.
		return statPrint(fi), true, nil
	}
	defer func() { _ = f.Close() }()
	if fi, err = f.Stat(); err != nil {
		return fingerprint{}, false, err
	}
	if !fi.Mode().IsRegular() {
		return fingerprint{}, false, nil
	}
	fp := statPrint(fi)
	if fi.Size() > hashLimit {
		return fp, true, nil
	}
	var h maphash.Hash
	h.SetSeed(o.seed)
	n, err := io.Copy(&h, io.LimitReader(f, hashLimit+1))
	if err != nil || n > hashLimit {
		return fp, true, nil
	}
	fp.size, fp.sum, fp.hashed = n, h.Sum64(), true
	return fp, true, nil
}

func (osFS) whole(path string) bool {
	// Stat first, as fingerprint does, so that only what is a regular
	// file at this moment is opened; safefile.Read then opens
	// non-blocking and checks the descriptor again, which catches a FIFO
	// or device swapped in between. An empty file (the moment after an
	// O_TRUNC) is not read at all.
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 || fi.Size() > hashLimit {
		return false
	}
	data, err := safefile.Read(path, hashLimit)
	return err == nil && completeJSONObject(data)
}

func statPrint(fi fs.FileInfo) fingerprint {
	dev, ino := devIno(fi)
	return fingerprint{size: fi.Size(), dev: dev, ino: ino, mtime: fi.ModTime().UnixNano()}
}

// absent reports whether err means there is no file at the path: it does
// not exist, a component is not a directory, or a symlink loops.
func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || absentErrno(err)
}

// source is where file events come from; tests fake it.
type source interface {
	Add(dir string) error
	Remove(dir string) error
	Events() <-chan fsnotify.Event
	Errors() <-chan error
	Close() error
}

// notifier adapts an fsnotify.Watcher to source.
type notifier struct{ w *fsnotify.Watcher }

func (n notifier) Add(dir string) error          { return n.w.Add(dir) }
func (n notifier) Remove(dir string) error       { return n.w.Remove(dir) }
func (n notifier) Events() <-chan fsnotify.Event { return n.w.Events }
func (n notifier) Errors() <-chan error          { return n.w.Errors }
func (n notifier) Close() error                  { return n.w.Close() }

// withHint adds the sysctl to raise when err is an inotify limit.
func withHint(err error) error {
	if h := limitHint(err); h != "" {
		return fmt.Errorf("%w (%s)", err, h)
	}
	return err
}
