// Package safefile reads the files omsecrets is pointed at (definitions,
// token files, CA bundles) the one way that cannot hang or exhaust
// memory: regular files only, bounded in size.
//
// A FIFO opened for reading blocks until a writer comes, and a symlink to
// /dev/zero or /dev/urandom never ends: os.ReadFile on either hangs the
// process, holding memory that grows, deaf to SIGTERM. Read opens with
// O_NONBLOCK (so a FIFO's open returns at once), refuses anything but a
// regular file after the open (so a swap in between is caught on the file
// actually read), and reads at most max+1 bytes.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Errors of Read, besides the open's own (fs.ErrNotExist, fs.ErrPermission,
// syscall.ELOOP, syscall.ENAMETOOLONG, ...).
var (
	// ErrNotRegular: the path is a FIFO, a device, a socket or a
	// directory.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: the file is larger than the bound.
	ErrTooLarge = errors.New("file too large")
)

// Read returns the contents of the regular file at path, of at most max
// bytes. Its errors wrap ErrNotRegular, ErrTooLarge or the open's error,
// without the path (callers name it with the setting or field).
func Read(path string, max int64) ([]byte, error) {
	b, _, err := ReadInfo(path, max)
	return b, err
}

// ReadInfo is Read that also returns the file's FileInfo, from the file
// read (for callers that note its modification time).
func ReadInfo(path string, max int64) ([]byte, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, nil, pe.Err
		}
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%w (%s)", ErrNotRegular, Kind(fi.Mode()))
	}
	if fi.Size() > max {
		return nil, nil, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, fi.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, nil, pe.Err
		}
		return nil, nil, err
	}
	if int64(len(b)) > max {
		return nil, nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return b, fi, nil
}

// Kind names a non-regular file mode for messages: "a FIFO", "a
// directory".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// Permanent reports whether err, from Read, will not go away by itself:
// anything but a file that vanished meanwhile or a transient I/O error.
// Used to class a failure as the input's, not the system's.
func Permanent(err error) bool {
	return !errors.Is(err, syscall.EINTR) && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EIO) &&
		!errors.Is(err, syscall.ENFILE) && !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENOMEM)
}
