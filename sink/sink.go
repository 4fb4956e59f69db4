package sink

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNotTmpfs is returned (wrapped) by New when the output directory is not
// on tmpfs or ramfs, or when that cannot be checked, and disk is not allowed.
var ErrNotTmpfs = errors.New("output directory is not on tmpfs or ramfs")

// ErrBadName is returned (wrapped) by Write and Remove for a name that is not
// a plain, non-hidden, single path element.
var ErrBadName = errors.New("invalid output name")

const (
	// modePrivate is used without a group: only the owner may read.
	modePrivate os.FileMode = 0o600
	// modeGroup lets a reader running under another uid but sharing the
	// group (the Airflow task container, typically via fsGroup) read.
	modeGroup os.FileMode = 0o640

	// tempPrefix and tempInfix build temp names ".<name>.tmp-<suffix>".
	// The leading dot is why Write refuses hidden names: the hidden
	// namespace belongs to temp files, so an output can never collide
	// with one.
	tempPrefix = "."
	tempInfix  = ".tmp-"
	// suffixBytes of randomness are hex-encoded into the temp suffix.
	suffixBytes = 8
	// tempAttempts bounds retries when a temp name already exists.
	tempAttempts = 5
	// maxNameLen keeps the temp name within the common 255-byte NAME_MAX,
	// so a name that Write accepts never fails later with ENAMETOOLONG.
	maxNameLen = 255 - len(tempPrefix) - len(tempInfix) - 2*suffixBytes
)

// Options configures a File sink.
type Options struct {
	// Dir is the output directory. It must already exist.
	Dir string
	// Group is the gid given to outputs, or -1 for none. Without a group
	// outputs are mode 0600; with a group (>= 0) they are chowned to it and
	// are mode 0640.
	Group int
	// AllowDisk accepts a Dir that is not tmpfs or ramfs, at the cost of
	// resolved secrets being written to disk.
	AllowDisk bool
}

// File writes outputs into one directory.
//
// A File is safe for concurrent use. All Writes and Removes are serialized
// by one mutex: a handful of outputs is written per reconcile, so the
// simplicity is worth more than parallel fsyncs, and it makes concurrent
// Writes of the same name well defined (the last one to return wins and each
// reports changed accurately). Readers in other processes need no locking:
// they always see a complete file.
type File struct {
	dir   string
	group int
	mode  os.FileMode

	mu sync.Mutex

	// rand supplies temp-name suffixes. It is a field so tests can force
	// collisions deterministically.
	rand io.Reader
	// beforeRename, if set, runs after the temp file is written, synced and
	// closed, right before it is renamed over the output. Tests use it to
	// inject a failure at the last moment.
	beforeRename func(tmp string) error
}

// New validates opts and returns a File writing into opts.Dir.
//
// Dir must exist and be a directory. Unless AllowDisk is set it must be on
// tmpfs or ramfs; otherwise New returns an error wrapping ErrNotTmpfs that
// explains in one line why and how to fix it. On platforms other than Linux
// the check cannot be made, so New refuses unless AllowDisk is set.
func New(opts Options) (*File, error) {
	if opts.Dir == "" {
		return nil, errors.New("output directory is not set")
	}
	if opts.Group < -1 {
		return nil, fmt.Errorf("output group %d is invalid: use -1 for none or a gid >= 0", opts.Group)
	}
	fi, err := os.Stat(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("output directory %q: %w", opts.Dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("output directory %q is not a directory", opts.Dir)
	}
	if !opts.AllowDisk {
		if err := checkMemoryFS(opts.Dir); err != nil {
			return nil, err
		}
	}
	mode := modePrivate
	if opts.Group >= 0 {
		mode = modeGroup
	}
	return &File{dir: opts.Dir, group: opts.Group, mode: mode, rand: rand.Reader}, nil
}

// notMemoryFSError explains why an output directory was refused. It is a
// type rather than fmt.Errorf so the message reads as one sentence while
// still matching ErrNotTmpfs with errors.Is.
type notMemoryFSError struct {
	dir string
	// reason says what is wrong and what it risks, e.g. "is on xfs (not
	// tmpfs or ramfs): resolved secrets would be written to disk".
	reason string
}

func (e *notMemoryFSError) Error() string {
	return fmt.Sprintf("output directory %q %s; "+
		"mount an emptyDir with medium: Memory there, or set --allow-disk / OMSECRETS_ALLOW_DISK=true",
		e.dir, e.reason)
}

func (e *notMemoryFSError) Unwrap() error { return ErrNotTmpfs }

// Dir returns the output directory.
func (f *File) Dir() string { return f.dir }

// Mode returns the permission bits every output gets: 0600, or 0640 with a
// group.
func (f *File) Mode() os.FileMode { return f.mode }

// Write atomically replaces Dir/name with data.
//
// changed is false when Dir/name already is a regular file holding exactly
// data with the expected mode (and group); nothing is written then, so
// readers watching mtimes or inodes see no change. Otherwise data goes to a
// temp file in Dir that has the final mode and group before any byte is
// written, is fsynced, and is renamed over Dir/name; then the directory is
// fsynced. If anything fails before the rename the temp file is removed and
// Dir/name is left exactly as it was. If only the final directory fsync
// fails, the new content is already in place and Write returns changed=true
// together with the error.
//
// name must be a single path element that does not start with '.' (see
// Name); otherwise the error wraps ErrBadName. Errors never contain data.
func (f *File) Write(name string, data []byte) (changed bool, err error) {
	if err := checkName(name); err != nil {
		return false, err
	}
	path := filepath.Join(f.dir, name)

	f.mu.Lock()
	defer f.mu.Unlock()

	// os.Root confines every operation to Dir, including symlink
	// resolution, so a link planted in Dir cannot redirect anything outside.
	root, err := os.OpenRoot(f.dir)
	if err != nil {
		return false, fmt.Errorf("open output directory %q: %w", f.dir, err)
	}
	defer root.Close()

	if f.unchanged(root, name, data) {
		return false, nil
	}

	tmp, fh, err := f.createTemp(root, name)
	if err != nil {
		return false, fmt.Errorf("create temporary file for %q: %w", path, err)
	}
	renamed := false
	defer func() {
		if fh != nil {
			fh.Close()
		}
		if !renamed {
			// Best effort: the original error matters more, and a leftover
			// hidden temp file is never mistaken for an output.
			root.Remove(tmp)
		}
	}()

	// Fix permissions on the descriptor before writing: the create mode was
	// filtered by the umask, and the file must never hold secrets with
	// looser (or wrong-group) permissions, not even briefly. Using the
	// descriptor rather than the name avoids any race with the directory.
	if err := fh.Chmod(f.mode); err != nil {
		return false, fmt.Errorf("set mode of temporary file for %q: %w", path, err)
	}
	if f.group >= 0 {
		if err := fh.Chown(-1, f.group); err != nil {
			return false, fmt.Errorf("set group %d on temporary file for %q: %w", f.group, path, err)
		}
	}
	// (*os.File).Write loops until every byte is written or it fails.
	if _, err := fh.Write(data); err != nil {
		return false, fmt.Errorf("write temporary file for %q: %w", path, err)
	}
	if err := fh.Sync(); err != nil {
		return false, fmt.Errorf("sync temporary file for %q: %w", path, err)
	}
	err = fh.Close()
	fh = nil
	if err != nil {
		return false, fmt.Errorf("close temporary file for %q: %w", path, err)
	}
	if f.beforeRename != nil {
		if err := f.beforeRename(tmp); err != nil {
			return false, fmt.Errorf("replace %q: %w", path, err)
		}
	}
	// rename(2) replaces the final component itself: if Dir/name is a
	// symlink, the link is replaced, never its target.
	if err := root.Rename(tmp, name); err != nil {
		return false, fmt.Errorf("replace %q: %w", path, err)
	}
	renamed = true
	if err := syncDir(root); err != nil {
		return true, fmt.Errorf("sync output directory %q after writing %q: %w", f.dir, name, err)
	}
	return true, nil
}

// unchanged reports whether Dir/name is a regular file (not a symlink) that
// already holds data with the expected mode and group. Any error reading it
// counts as "changed": the check only saves a write, and writing is always
// correct.
func (f *File) unchanged(root *os.Root, name string, data []byte) bool {
	fi, err := root.Lstat(name)
	if err != nil || !f.wantedInfo(fi, len(data)) {
		return false
	}
	fh, err := root.Open(name)
	if err != nil {
		return false
	}
	defer fh.Close()
	// Make sure we opened the file we just checked, not something swapped
	// in between.
	ofi, err := fh.Stat()
	if err != nil || !os.SameFile(fi, ofi) || !f.wantedInfo(ofi, len(data)) {
		return false
	}
	// Read one byte more than expected to notice a file that grew.
	buf := make([]byte, len(data)+1)
	n, err := io.ReadFull(fh, buf)
	if err != io.ErrUnexpectedEOF && err != io.EOF {
		return false // grew past len(data), or a read error
	}
	return bytes.Equal(buf[:n], data)
}

// wantedInfo reports whether fi describes a regular file of the given size
// with exactly the expected mode (no setuid/setgid/sticky bits) and group.
func (f *File) wantedInfo(fi os.FileInfo, size int) bool {
	if fi.Mode() != f.mode || fi.Size() != int64(size) {
		return false
	}
	if f.group >= 0 {
		gid, ok := fileGID(fi)
		if !ok || gid != f.group {
			return false
		}
	}
	return true
}

// createTemp creates a new hidden temp file next to name. O_EXCL guarantees
// it never opens (and so never clobbers) an existing file or follows a
// symlink planted under the temp name; on a collision it retries with a new
// random suffix. os opens files with O_CLOEXEC on its own, so the
// descriptor does not leak into child processes.
func (f *File) createTemp(root *os.Root, name string) (string, *os.File, error) {
	var lastErr error
	for range tempAttempts {
		var b [suffixBytes]byte
		if _, err := io.ReadFull(f.rand, b[:]); err != nil {
			return "", nil, fmt.Errorf("random suffix: %w", err)
		}
		tmp := tempPrefix + name + tempInfix + hex.EncodeToString(b[:])
		fh, err := root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, f.mode)
		if err == nil {
			return tmp, fh, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", nil, err
		}
		lastErr = err
	}
	return "", nil, fmt.Errorf("%d random temporary names in a row already exist: %w", tempAttempts, lastErr)
}

// Remove deletes the output file Dir/name and fsyncs the directory so the removal survives
// a crash. A name that does not exist is not an error. If Dir/name is a
// symlink, the link itself is removed; if it is a directory, Remove refuses.
// name follows the same rules as in Write.
func (f *File) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	path := filepath.Join(f.dir, name)

	f.mu.Lock()
	defer f.mu.Unlock()

	root, err := os.OpenRoot(f.dir)
	if err != nil {
		return fmt.Errorf("open output directory %q: %w", f.dir, err)
	}
	defer root.Close()

	// Outputs are files; a directory under an output's name is not ours to
	// delete (os.Remove would rmdir it if empty).
	if fi, err := root.Lstat(name); err == nil && fi.IsDir() {
		return fmt.Errorf("remove %q: is a directory, not an output file", path)
	}
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %q: %w", path, err)
	}
	// Sync even when the file was already gone: an earlier Remove may have
	// unlinked it and then failed to sync.
	if err := syncDir(root); err != nil {
		return fmt.Errorf("sync output directory %q after removing %q: %w", f.dir, name, err)
	}
	return nil
}

// syncDir fsyncs the root directory so a rename or unlink in it is durable.
func syncDir(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// checkName enforces that name is one plain path element. Together with
// os.Root this keeps every write inside Dir; refusing hidden names keeps
// outputs apart from temp files.
func checkName(name string) error {
	reason := ""
	switch {
	case name == "":
		reason = "is empty"
	case name == "." || name == "..":
		reason = "is a directory reference"
	case strings.ContainsAny(name, `/\`):
		reason = "contains a path separator"
	case strings.ContainsRune(name, 0):
		reason = "contains a NUL byte"
	case strings.HasPrefix(name, "."):
		reason = "starts with '.' (hidden names are reserved for temporary files)"
	case len(name) > maxNameLen:
		reason = fmt.Sprintf("is longer than %d bytes", maxNameLen)
	default:
		return nil
	}
	return fmt.Errorf("output name %q %s: %w", name, reason, ErrBadName)
}

// Name turns raw, an OpenMetadata pipeline name or a file base name, into a
// safe output base name and appends ext (for example ".json").
//
// It applies OpenMetadata's dag_id rule, Python's
// re.sub("[^0-9a-zA-Z-_]+", "_", raw): every run of other characters becomes
// a single "_". Using the same rule means an output is named like the DAG
// that reads it. The result contains no separator or dot before ext, so it is
// always accepted by Write when ext is a plain extension (unless too long).
// An empty raw gives "_" + ext rather than a bare extension, which would be
// a hidden name.
func Name(raw, ext string) string {
	if raw == "" {
		return "_" + ext
	}
	var b strings.Builder
	b.Grow(len(raw) + len(ext))
	inRun := false
	// Bytes rather than runes: every byte of a multi-byte UTF-8 sequence is
	// outside the allowed set and runs collapse, so the result is the same
	// as Python's per-code-point matching, and invalid UTF-8 is handled too.
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if allowed(c) {
			b.WriteByte(c)
			inRun = false
			continue
		}
		if !inRun {
			b.WriteByte('_')
			inRun = true
		}
	}
	b.WriteString(ext)
	return b.String()
}

// allowed reports whether c is in OpenMetadata's dag_id set [0-9a-zA-Z-_].
func allowed(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_'
}

// tempName matches the temporary files Write creates.
var tempName = regexp.MustCompile(`^\..+\.tmp-[0-9a-f]{` + strconv.Itoa(2*suffixBytes) + `}$`)

// Sweep removes temporary files that a Write interrupted by a crash left in
// Dir, and that hold secrets: those last modified more than olderThan ago.
// Younger ones may belong to a Write in flight in another process and are
// left alone. It returns how many it removed; a file that vanishes
// meanwhile is not an error.
func (f *File) Sweep(olderThan time.Duration) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	root, err := os.OpenRoot(f.dir)
	if err != nil {
		return 0, fmt.Errorf("open output directory %q: %w", f.dir, err)
	}
	defer root.Close()
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return 0, fmt.Errorf("list output directory %q: %w", f.dir, err)
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !tempName.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < olderThan {
			continue
		}
		if err := root.Remove(e.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove stale temporary file %q: %w", filepath.Join(f.dir, e.Name()), err))
			continue
		}
		removed++
	}
	if removed > 0 {
		if err := syncDir(root); err != nil {
			errs = append(errs, fmt.Errorf("sync output directory %q: %w", f.dir, err))
		}
	}
	return removed, errors.Join(errs...)
}
