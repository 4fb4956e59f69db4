package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"omsecrets/internal/safefile"
	"omsecrets/resolver"
)

var _ resolver.Getter = (*Store)(nil)

// MaxSize is the largest secret file, in bytes, a Store reads.
const MaxSize = 1 << 20

// Store reads secrets from the files of one directory. It is safe for
// concurrent use.
type Store struct {
	dir string
}

// New returns a Store that reads from dir. dir must exist and be a
// directory; it is made absolute so that a later change of the working
// directory does not move the store.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("file store: empty directory name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("file store: %s is not a directory", abs)
	}
	return &Store{dir: abs}, nil
}

// Dir returns the absolute path of the store's directory.
func (s *Store) Dir() string { return s.dir }

// Get implements resolver.Getter; see the package documentation for how id
// names a file and how failures map to the resolver error classes. It does
// not look at ctx: local file reads are not cancelable.
func (s *Store) Get(_ context.Context, id string) (resolver.Secret, error) {
	name, err := relPath(id)
	if err != nil {
		return resolver.Secret{}, fmt.Errorf("secret %q: %w", id, err)
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		// The id is fine; the store directory itself is the problem.
		return resolver.Secret{}, fmt.Errorf("secret %q: store directory: %w: %w", id, err, resolver.ErrUnavailable)
	}
	defer root.Close()

	// Check the type before opening, so that a device or socket is never
	// opened (opening a socket fails with ENXIO, and opening some devices
	// has side effects).
	fi, err := root.Stat(name)
	if err != nil {
		return resolver.Secret{}, mapError(id, err)
	}
	if err := checkFile(id, fi); err != nil {
		return resolver.Secret{}, err
	}

	f, err := openChecked(root, id, name)
	if err != nil {
		return resolver.Secret{}, err
	}
	defer f.Close()
	// The file may grow between Stat and ReadAll: read one byte past the
	// limit to notice.
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return resolver.Secret{}, mapError(id, err)
	}
	if len(b) > MaxSize {
		return resolver.Secret{}, tooLarge(id)
	}
	return resolver.NewSecret(trimLineEnd(string(b))), nil
}

// openChecked opens name in root for reading and checks, on the open file,
// that it is a regular file of at most MaxSize bytes. The open is
// non-blocking so that a FIFO (swapped in since a caller's Stat) opens at
// once instead of waiting for a writer, and is then refused; O_NONBLOCK does
// not change reads of regular files.
func openChecked(root *os.Root, id, name string) (*os.File, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, mapError(id, err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkFile(id, fi)
	} else {
		err = mapError(id, err)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// relPath returns the slash-separated path, relative to the store
// directory, that id names, or an error wrapping resolver.ErrBadRef. The
// error does not repeat the id.
func relPath(id string) (string, error) {
	p := strings.TrimPrefix(id, "/")
	switch {
	case p == "":
		return "", fmt.Errorf("empty file path: %w", resolver.ErrBadRef)
	case strings.ContainsRune(p, '\\'):
		return "", fmt.Errorf("backslash in file path: %w", resolver.ErrBadRef)
	case strings.ContainsRune(p, 0):
		return "", fmt.Errorf("NUL byte in file path: %w", resolver.ErrBadRef)
	}
	for elem := range strings.SplitSeq(p, "/") {
		switch elem {
		case "":
			return "", fmt.Errorf("empty element in file path: %w", resolver.ErrBadRef)
		case ".", "..":
			return "", fmt.Errorf("%q element in file path: %w", elem, resolver.ErrBadRef)
		}
	}
	return p, nil
}

// mapError maps an error opening, inspecting or reading the file of id to a
// resolver error class.
func mapError(id string, err error) error {
	if isEscape(err) {
		return fmt.Errorf("secret %q: path leaves the store directory: %w", id, resolver.ErrPermission)
	}
	// The errno alone: a PathError repeats the path, which may be long.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, syscall.ENAMETOOLONG), errors.Is(err, syscall.ELOOP), errors.Is(err, syscall.EISDIR),
		errors.Is(err, syscall.ENXIO), errors.Is(err, syscall.EINVAL):
		// The id names what can never be read: not worth a retry.
		return fmt.Errorf("secret %q: %w: %w", id, err, resolver.ErrBadRef)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("secret %q: %w: %w", id, err, resolver.ErrNotFound)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("secret %q: %w: %w", id, err, resolver.ErrPermission)
	default:
		return fmt.Errorf("secret %q: %w: %w", id, err, resolver.ErrUnavailable)
	}
}

// isEscape reports whether err is os.Root's refusal of a path that leaves
// the root. os does not export that error; it is the only error of a Root
// that is not an errno and that mentions escaping. TestGetSymlinkOutside
// pins this against the running Go version.
func isEscape(err error) bool {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return false
	}
	var errno syscall.Errno
	return !errors.As(pe.Err, &errno) && strings.Contains(pe.Err.Error(), "escapes")
}

// checkFile refuses a file that is not regular or is larger than MaxSize.
func checkFile(id string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("secret %q: not a regular file but %s: %w", id, safefile.Kind(fi.Mode()), resolver.ErrBadRef)
	}
	if fi.Size() > MaxSize {
		return tooLarge(id)
	}
	return nil
}

func tooLarge(id string) error {
	return fmt.Errorf("secret %q: file larger than 1 MiB: %w", id, resolver.ErrBadRef)
}

// trimLineEnd strips exactly one trailing "\r\n" or "\n".
func trimLineEnd(s string) string {
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t
	}
	return strings.TrimSuffix(s, "\n")
}
