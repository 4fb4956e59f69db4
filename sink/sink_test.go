package sink

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// secretPayload looks like a resolved config; tests assert it never shows up
// in an error.
var secretPayload = []byte(`{"password":"hunter2-s3cr3t-do-not-leak"}`)

// diskSink returns a File on a fresh t.TempDir, which may be on disk, so it
// sets AllowDisk.
func diskSink(t *testing.T, group int) (*File, string) {
	t.Helper()
	dir := t.TempDir()
	f, err := New(Options{Dir: dir, Group: group, AllowDisk: true})
	require.NoError(t, err)
	return f, dir
}

// entries lists the names in dir, sorted.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, 0, len(des))
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// hidden lists the dot-names in dir: temp files, or ones a test planted.
func hidden(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, n := range entries(t, dir) {
		if strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func TestNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	require.NoError(t, os.WriteFile(regular, nil, 0o600))

	tests := []struct {
		name     string
		opts     Options
		wantErr  string // substring; "" means success
		wantMode os.FileMode
	}{
		{name: "no group", opts: Options{Dir: dir, Group: -1, AllowDisk: true}, wantMode: 0o600},
		{name: "group", opts: Options{Dir: dir, Group: os.Getgid(), AllowDisk: true}, wantMode: 0o640},
		{name: "empty dir", opts: Options{Group: -1, AllowDisk: true}, wantErr: "output directory is not set"},
		{name: "missing dir", opts: Options{Dir: filepath.Join(dir, "missing"), Group: -1, AllowDisk: true}, wantErr: "no such file or directory"},
		{name: "not a directory", opts: Options{Dir: regular, Group: -1, AllowDisk: true}, wantErr: "is not a directory"},
		{name: "group below -1", opts: Options{Dir: dir, Group: -2, AllowDisk: true}, wantErr: "output group -2 is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := New(tt.opts)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotErrorIs(t, err, ErrNotTmpfs)
				assert.Nil(t, f)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.opts.Dir, f.Dir())
			assert.Equal(t, tt.wantMode, f.Mode())
		})
	}
}

func TestWriteContent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data []byte
	}{
		{name: "empty", data: []byte{}},
		{name: "small", data: secretPayload},
		{name: "binary with NULs", data: []byte{0, 1, 2, 0, 255, '\n'}},
		{name: "1 MiB", data: bytes.Repeat([]byte("0123456789abcdef"), 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, dir := diskSink(t, -1)
			changed, err := f.Write("out.json", tt.data)
			require.NoError(t, err)
			assert.True(t, changed)

			path := filepath.Join(dir, "out.json")
			assert.Equal(t, tt.data, readFile(t, path))
			fi, err := os.Lstat(path)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode(), "regular file with mode 0600")
			assert.Equal(t, []string{"out.json"}, entries(t, dir), "no temp file left behind")

			changed, err = f.Write("out.json", tt.data)
			require.NoError(t, err)
			assert.False(t, changed, "same bytes again are skipped")
		})
	}
}

func TestWriteUnchangedSkip(t *testing.T) {
	t.Parallel()
	f, dir := diskSink(t, -1)
	path := filepath.Join(dir, "cfg.json")
	v1 := []byte("version one")
	v2 := []byte("version two, longer")
	v3 := []byte("version TWO, longer") // same length as v2
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

	write := func(t *testing.T, data []byte) bool {
		t.Helper()
		changed, err := f.Write("cfg.json", data)
		require.NoError(t, err)
		assert.Equal(t, data, readFile(t, path))
		return changed
	}
	lstat := func(t *testing.T) os.FileInfo {
		t.Helper()
		fi, err := os.Lstat(path)
		require.NoError(t, err)
		return fi
	}

	// The steps build on each other, so they run in order.
	t.Run("first write", func(t *testing.T) {
		assert.True(t, write(t, v1))
	})
	t.Run("same bytes leave the file alone", func(t *testing.T) {
		// Backdate the file: a rewrite would give a new inode and mtime.
		require.NoError(t, os.Chtimes(path, old, old))
		before := lstat(t)
		assert.False(t, write(t, v1))
		after := lstat(t)
		assert.True(t, os.SameFile(before, after), "same inode")
		assert.True(t, after.ModTime().Equal(old), "mtime unchanged: %v", after.ModTime())
	})
	t.Run("different bytes", func(t *testing.T) {
		before := lstat(t)
		assert.True(t, write(t, v2))
		assert.False(t, os.SameFile(before, lstat(t)), "replaced by a new file")
	})
	t.Run("different bytes of the same length", func(t *testing.T) {
		assert.True(t, write(t, v3))
	})
	t.Run("wrong mode is repaired", func(t *testing.T) {
		require.NoError(t, os.Chmod(path, 0o644))
		assert.True(t, write(t, v3))
		assert.Equal(t, os.FileMode(0o600), lstat(t).Mode())
		assert.False(t, write(t, v3), "skipped again once the mode is right")
	})
	t.Run("symlink with the same content is replaced by a file", func(t *testing.T) {
		real := filepath.Join(dir, "real.json")
		require.NoError(t, os.WriteFile(real, v3, 0o600))
		require.NoError(t, os.Chmod(real, 0o600))
		require.NoError(t, os.Remove(path))
		require.NoError(t, os.Symlink("real.json", path))
		assert.True(t, write(t, v3))
		assert.True(t, lstat(t).Mode().IsRegular())
		assert.Equal(t, v3, readFile(t, real), "link target untouched")
	})
	assert.Empty(t, hidden(t, dir), "no temp files left behind")
}

// fixedReader yields the same bytes forever, so every temp suffix is the
// same: "0000000000000000" for zeros.
type fixedReader byte

func (r fixedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// seqReader yields 8 bytes of 0, then 8 bytes of 1, and so on, so successive
// temp suffixes are predictable and distinct.
type seqReader struct{ n int }

func (r *seqReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.n / suffixBytes)
		r.n++
	}
	return len(p), nil
}

func TestWriteTempNameCollision(t *testing.T) {
	t.Parallel()
	const firstTemp = ".x.tmp-0000000000000000"
	outside := filepath.Join(t.TempDir(), "created-through-link")

	tests := []struct {
		name  string
		plant func(t *testing.T, dir string)
		check func(t *testing.T, dir string)
	}{
		{
			name: "regular file",
			plant: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, firstTemp), []byte("planted"), 0o600))
			},
			check: func(t *testing.T, dir string) {
				assert.Equal(t, []byte("planted"), readFile(t, filepath.Join(dir, firstTemp)))
			},
		},
		{
			name: "dangling symlink pointing outside",
			plant: func(t *testing.T, dir string) {
				require.NoError(t, os.Symlink(outside, filepath.Join(dir, firstTemp)))
			},
			check: func(t *testing.T, dir string) {
				_, err := os.Lstat(outside)
				assert.ErrorIs(t, err, fs.ErrNotExist, "nothing created through the link")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the subtests share the outside path.
			f, dir := diskSink(t, -1)
			f.rand = &seqReader{}
			tt.plant(t, dir)

			changed, err := f.Write("x", secretPayload)
			require.NoError(t, err)
			assert.True(t, changed)
			assert.Equal(t, secretPayload, readFile(t, filepath.Join(dir, "x")))
			tt.check(t, dir)
			assert.Equal(t, []string{firstTemp}, hidden(t, dir), "only the planted entry is hidden; the second temp name was renamed away")
		})
	}
}

var errInjected = errors.New("injected failure")

func TestWriteFailureKeepsPrevious(t *testing.T) {
	t.Parallel()
	previous := []byte("previous content")

	tests := []struct {
		name string
		// setup prepares dir and f so that writing secretPayload to "x"
		// fails. It returns the hidden names it planted.
		setup      func(t *testing.T, f *File, dir string) []string
		hasPrev    bool
		wantErrIs  error
		wantErrMsg string
	}{
		{
			name:    "rename step fails",
			hasPrev: true,
			setup: func(t *testing.T, f *File, dir string) []string {
				f.beforeRename = func(tmp string) error {
					// The temp file is complete at this point.
					assert.Equal(t, secretPayload, readFile(t, filepath.Join(dir, tmp)))
					return errInjected
				}
				return nil
			},
			wantErrIs:  errInjected,
			wantErrMsg: `replace "`,
		},
		{
			name:    "every temp name taken",
			hasPrev: true,
			setup: func(t *testing.T, f *File, dir string) []string {
				f.rand = fixedReader(0)
				taken := ".x.tmp-0000000000000000"
				require.NoError(t, os.WriteFile(filepath.Join(dir, taken), []byte("planted"), 0o600))
				return []string{taken}
			},
			wantErrIs:  fs.ErrExist,
			wantErrMsg: "random temporary names in a row already exist",
		},
		{
			name: "target is a non-empty directory",
			setup: func(t *testing.T, f *File, dir string) []string {
				require.NoError(t, os.Mkdir(filepath.Join(dir, "x"), 0o700))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "x", "child"), []byte("child"), 0o600))
				return nil
			},
			wantErrMsg: `replace "`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, dir := diskSink(t, -1)
			path := filepath.Join(dir, "x")
			if tt.hasPrev {
				_, err := f.Write("x", previous)
				require.NoError(t, err)
			}
			planted := tt.setup(t, f, dir)

			changed, err := f.Write("x", secretPayload)
			require.Error(t, err)
			assert.False(t, changed)
			if tt.wantErrIs != nil {
				assert.ErrorIs(t, err, tt.wantErrIs)
			}
			assert.Contains(t, err.Error(), tt.wantErrMsg)
			assert.Contains(t, err.Error(), path, "error names the path")
			assert.NotContains(t, err.Error(), string(secretPayload), "error must not leak the data")
			assert.NotContains(t, err.Error(), "hunter2")

			if tt.hasPrev {
				assert.Equal(t, previous, readFile(t, path), "previous file kept byte for byte")
				fi, err := os.Lstat(path)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), fi.Mode())
			} else {
				assert.Equal(t, []byte("child"), readFile(t, filepath.Join(path, "child")))
			}
			assert.Equal(t, planted, hidden(t, dir), "temp file removed")
		})
	}
}

func TestBadNameRefused(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	require.NoError(t, os.Mkdir(dir, 0o700))
	f, err := New(Options{Dir: dir, Group: -1, AllowDisk: true})
	require.NoError(t, err)
	passwd, passwdErr := os.ReadFile("/etc/passwd")

	tests := []struct {
		name   string
		in     string
		reason string
	}{
		{name: "parent", in: "../x", reason: "contains a path separator"},
		{name: "subdirectory", in: "a/b", reason: "contains a path separator"},
		{name: "absolute", in: "/etc/passwd", reason: "contains a path separator"},
		{name: "dotdot", in: "..", reason: "is a directory reference"},
		{name: "dot", in: ".", reason: "is a directory reference"},
		{name: "empty", in: "", reason: "is empty"},
		{name: "hidden", in: ".hidden", reason: "starts with '.'"},
		{name: "temp-like", in: ".x.tmp-0000000000000000", reason: "starts with '.'"},
		{name: "nul", in: "x\x00y", reason: "contains a NUL byte"},
		{name: "backslash", in: `a\b`, reason: "contains a path separator"},
		{name: "too long", in: strings.Repeat("a", maxNameLen+1), reason: "is longer than 233 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed, err := f.Write(tt.in, secretPayload)
			assert.ErrorIs(t, err, ErrBadName)
			assert.False(t, changed)
			if err != nil {
				assert.Contains(t, err.Error(), fmt.Sprintf("%q %s", tt.in, tt.reason), "error quotes the name and says why")
				assert.NotContains(t, err.Error(), string(secretPayload))
			}
			assert.ErrorIs(t, f.Remove(tt.in), ErrBadName)
		})
	}

	assert.Empty(t, entries(t, dir), "nothing created in the directory")
	assert.Equal(t, []string{"out"}, entries(t, base), "nothing created next to it")
	if passwdErr == nil {
		assert.Equal(t, passwd, readFile(t, "/etc/passwd"))
	}

	t.Run("longest name is accepted", func(t *testing.T) {
		name := strings.Repeat("a", maxNameLen)
		_, err := f.Write(name, secretPayload)
		require.NoError(t, err)
		assert.Equal(t, secretPayload, readFile(t, filepath.Join(dir, name)))
	})
}

func TestWriteSymlinkNotFollowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// link returns the symlink target to plant at Dir/evil.
		link func(outside string) string
	}{
		{name: "to outside directory", link: func(outside string) string { return outside }},
		{name: "to outside file", link: func(outside string) string { return filepath.Join(outside, "target") }},
		{name: "to missing outside file", link: func(outside string) string { return filepath.Join(outside, "new") }},
		{name: "relative escape", link: func(outside string) string { return "../../../../../../../.." + outside + "/target" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, dir := diskSink(t, -1)
			outside := t.TempDir()
			target := filepath.Join(outside, "target")
			require.NoError(t, os.WriteFile(target, []byte("outside"), 0o600))
			evil := filepath.Join(dir, "evil")
			require.NoError(t, os.Symlink(tt.link(outside), evil))

			changed, err := f.Write("evil", secretPayload)
			// Replacing the link is the expected outcome; refusing would be
			// acceptable too. Writing through it never is.
			if err == nil {
				assert.True(t, changed)
				fi, lerr := os.Lstat(evil)
				require.NoError(t, lerr)
				assert.True(t, fi.Mode().IsRegular(), "the link itself was replaced")
				assert.Equal(t, secretPayload, readFile(t, evil))
			} else {
				assert.NotContains(t, err.Error(), string(secretPayload))
			}
			assert.Equal(t, []string{"target"}, entries(t, outside), "nothing created outside")
			assert.Equal(t, []byte("outside"), readFile(t, target), "outside file untouched")
			assert.Empty(t, hidden(t, dir))
		})
	}
}

func TestRemove(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, f *File, dir string)
		in      string
		wantErr error  // checked with errors.Is
		wantMsg string // substring of the error
		check   func(t *testing.T, dir string)
	}{
		{
			name: "existing file",
			setup: func(t *testing.T, f *File, dir string) {
				_, err := f.Write("x.json", secretPayload)
				require.NoError(t, err)
				_, err = f.Write("keep.json", secretPayload)
				require.NoError(t, err)
			},
			in: "x.json",
			check: func(t *testing.T, dir string) {
				assert.Equal(t, []string{"keep.json"}, entries(t, dir))
			},
		},
		{
			name: "absent file",
			in:   "missing.json",
			check: func(t *testing.T, dir string) {
				assert.Empty(t, entries(t, dir))
			},
		},
		{
			name: "symlink is removed, not its target",
			setup: func(t *testing.T, f *File, dir string) {
				target := filepath.Join(filepath.Dir(dir), "target-"+filepath.Base(dir))
				require.NoError(t, os.WriteFile(target, []byte("outside"), 0o600))
				t.Cleanup(func() { os.Remove(target) })
				require.NoError(t, os.Symlink(target, filepath.Join(dir, "link")))
			},
			in: "link",
			check: func(t *testing.T, dir string) {
				assert.Empty(t, entries(t, dir))
				assert.Equal(t, []byte("outside"), readFile(t, filepath.Join(filepath.Dir(dir), "target-"+filepath.Base(dir))))
			},
		},
		{
			name: "empty directory is not removed",
			setup: func(t *testing.T, f *File, dir string) {
				require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o700))
			},
			in:      "sub",
			wantMsg: "is a directory",
			check: func(t *testing.T, dir string) {
				assert.Equal(t, []string{"sub"}, entries(t, dir))
			},
		},
		{
			name: "bad name",
			setup: func(t *testing.T, f *File, dir string) {
				_, err := f.Write("x.json", secretPayload)
				require.NoError(t, err)
			},
			in:      "../x.json",
			wantErr: ErrBadName,
			check: func(t *testing.T, dir string) {
				assert.Equal(t, []string{"x.json"}, entries(t, dir))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, dir := diskSink(t, -1)
			if tt.setup != nil {
				tt.setup(t, f, dir)
			}
			err := f.Remove(tt.in)
			switch {
			case tt.wantErr != nil:
				assert.ErrorIs(t, err, tt.wantErr)
			case tt.wantMsg != "":
				assert.ErrorContains(t, err, tt.wantMsg)
			default:
				assert.NoError(t, err)
			}
			tt.check(t, dir)
		})
	}
}

func TestWritesAreSerialized(t *testing.T) {
	t.Parallel()
	f, dir := diskSink(t, -1)
	entered := make(chan string, 2)
	release := make(chan struct{})
	f.beforeRename = func(tmp string) error {
		entered <- tmp
		<-release
		return nil
	}

	results := make(chan error, 2)
	write := func(data string) {
		_, err := f.Write("x", []byte(data))
		results <- err
	}
	go write("first")
	<-entered // the first Write is inside its critical section

	go write("second")
	select {
	case <-entered:
		t.Error("a second Write of the same name ran while the first was in progress")
	case <-time.After(100 * time.Millisecond):
		// Not proof, but a missing lock is caught almost every run, and a
		// correct implementation never fails here.
	}
	close(release)
	require.NoError(t, <-results)
	require.NoError(t, <-results)
	got := string(readFile(t, filepath.Join(dir, "x")))
	assert.Contains(t, []string{"first", "second"}, got)
	assert.Empty(t, hidden(t, dir))
}

func TestSweepRemovesOnlyStaleTempFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := New(Options{Dir: dir, Group: -1, AllowDisk: true})
	require.NoError(t, err)
	old := time.Now().Add(-time.Hour)
	files := map[string]bool{ // name → should survive
		".out.json.tmp-0123456789abcdef":   false, // stale temp
		".fresh.json.tmp-0123456789abcdef": true,  // a write in flight elsewhere
		"out.json":                         true,  // an output, however old
		".out.json.tmp-notahexsuffix00":    true,  // not ours
		".hidden":                          true,
	}
	for name := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("secret-bytes"), 0o600))
		if name != ".fresh.json.tmp-0123456789abcdef" {
			require.NoError(t, os.Chtimes(filepath.Join(dir, name), old, old))
		}
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, ".d.tmp-0123456789abcdef"), 0o700))

	n, err := f.Sweep(time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	for name, survives := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if survives {
			assert.NoError(t, err, name)
		} else {
			assert.ErrorIs(t, err, os.ErrNotExist, name)
		}
	}
	_, err = os.Stat(filepath.Join(dir, ".d.tmp-0123456789abcdef"))
	assert.NoError(t, err, "directories are never swept")

	// A temp name Write really makes is matched.
	f.beforeRename = func(tmp string) error {
		assert.Regexp(t, tempName, tmp)
		return nil
	}
	_, err = f.Write("real.json", []byte("x"))
	require.NoError(t, err)
}
