package file_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/nobody"
	"omsecrets/resolver"
	"omsecrets/resolver/file"
	"omsecrets/resolver/resolvertest"
)

// outsideValue is the content of a file outside every store directory that
// tests try to reach through symlinks.
const outsideValue = "outside-value-must-not-leak"

// writeFiles creates files (path -> content) under dir, with their parent
// directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	}
}

// newStore returns a Store on a fresh directory holding files, and the
// directory.
func newStore(t *testing.T, files map[string]string) (*file.Store, string) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	s, err := file.New(dir)
	require.NoError(t, err)
	return s, dir
}

// outsideFile returns the path of a file holding outsideValue, outside any
// store directory.
func outsideFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "outside")
	require.NoError(t, os.WriteFile(p, []byte(outsideValue), 0o600))
	return p
}

func TestConformance(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t, map[string]string{
		"db-password":         "file-value-plain\n",
		"nested/dir/password": "file-value-nested",
		"crlf":                "file-value-crlf\r\n",
		"empty":               "",
		"null":                "null\n",
		"unicode-ключ":        "file-value-юникод\n",
		"json":                `{"user":"file-user","password":"file-pass"}` + "\n",
	})
	require.NoError(t, os.Symlink(outsideFile(t), filepath.Join(dir, "link-out")))
	require.NoError(t, os.Symlink("nested/dir/password", filepath.Join(dir, "link-in")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "subdir"), 0o755))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	writeFiles(t, dir, map[string]string{"big": strings.Repeat("x", file.MaxSize+1)})

	resolvertest.Run(t, s, []resolvertest.Case{
		{Name: "plain with newline", ID: "/db-password", Want: "file-value-plain"},
		{Name: "without leading slash", ID: "db-password", Want: "file-value-plain"},
		{Name: "nested", ID: "/nested/dir/password", Want: "file-value-nested"},
		{Name: "crlf", ID: "/crlf", Want: "file-value-crlf"},
		{Name: "empty file", ID: "/empty", Want: ""},
		{Name: "null literal", ID: "/null", WantNull: true},
		{Name: "unicode", ID: "/unicode-ключ", Want: "file-value-юникод"},
		{Name: "json object", ID: "/json", Want: `{"user":"file-user","password":"file-pass"}`},
		{Name: "symlink inside", ID: "/link-in", Want: "file-value-nested"},
		{Name: "missing", ID: "/no-such-secret", WantErr: resolver.ErrNotFound},
		{Name: "path through a file", ID: "/db-password/x", WantErr: resolver.ErrNotFound},
		{Name: "dot dot", ID: "/../etc/passwd", WantErr: resolver.ErrBadRef},
		{Name: "symlink outside", ID: "/link-out", WantErr: resolver.ErrPermission},
		{Name: "directory", ID: "/subdir", WantErr: resolver.ErrBadRef},
		{Name: "fifo", ID: "/fifo", WantErr: resolver.ErrBadRef},
		{Name: "too large", ID: "/big", WantErr: resolver.ErrBadRef},
	})
}

func TestNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"regular": "x"})

	s, err := file.New(dir)
	require.NoError(t, err)
	assert.Equal(t, dir, s.Dir())

	for _, tc := range []struct {
		name, dir, wantMsg string
	}{
		{name: "empty", dir: "", wantMsg: "empty directory name"},
		{name: "missing", dir: filepath.Join(dir, "missing"), wantMsg: "no such file or directory"},
		{name: "regular file", dir: filepath.Join(dir, "regular"), wantMsg: "is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := file.New(tc.dir)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), tc.wantMsg)
		})
	}
}

// TestNewRelative checks that a relative directory is made absolute, so a
// later chdir does not move the store. It changes the working directory, so
// it does not run in parallel.
func TestNewRelative(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"secrets/token": "relative-value"})
	t.Chdir(dir)
	s, err := file.New("secrets")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "secrets"), s.Dir())
	t.Chdir(t.TempDir())
	v, err := s.Get(t.Context(), "token")
	require.NoError(t, err)
	assert.Equal(t, "relative-value", v.Value())
}

// TestGetKubernetesSecretVolume builds the layout the kubelet writes for a
// Secret volume and reads through its symlinks, before and after a
// rotation.
func TestGetKubernetesSecretVolume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const ts1, ts2 = "..2026_11_28_14_00_00.123456789", "..2026_11_28_15_00_00.987654321"
	writeFiles(t, dir, map[string]string{
		ts1 + "/password": "k8s-password-1\n",
		ts1 + "/username": "k8s-user",
	})
	require.NoError(t, os.Symlink(ts1, filepath.Join(dir, "..data")))
	require.NoError(t, os.Symlink("..data/password", filepath.Join(dir, "password")))
	require.NoError(t, os.Symlink("..data/username", filepath.Join(dir, "username")))

	s, err := file.New(dir)
	require.NoError(t, err)
	get := func(id string) string {
		t.Helper()
		v, err := s.Get(t.Context(), id)
		require.NoError(t, err, id)
		return v.Value()
	}
	assert.Equal(t, "k8s-password-1", get("password"))
	assert.Equal(t, "k8s-password-1", get("/password"))
	assert.Equal(t, "k8s-user", get("/username"))
	assert.Equal(t, "k8s-user", get("/..data/username"))

	// Rotation, as the kubelet's atomic writer does it: write a new
	// timestamped directory, then rename a new ..data link over the old.
	writeFiles(t, dir, map[string]string{
		ts2 + "/password": "k8s-password-2\n",
		ts2 + "/username": "k8s-user",
	})
	require.NoError(t, os.Symlink(ts2, filepath.Join(dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, ts1)))
	assert.Equal(t, "k8s-password-2", get("/password"))

	_, err = s.Get(t.Context(), "/missing-key")
	assert.ErrorIs(t, err, resolver.ErrNotFound)
}

// TestGetSymlinkOutside checks that no symlink gets a read out of the store
// directory, and that the refusal is ErrPermission with a clear message. It
// also pins the detection of os.Root's unexported escape error against the
// running Go version.
func TestGetSymlinkOutside(t *testing.T) {
	t.Parallel()
	outside := outsideFile(t)
	s, dir := newStore(t, map[string]string{"inside": "inside-value"})
	rel, err := filepath.Rel(dir, outside)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(rel, ".."+string(filepath.Separator)), rel)
	links := map[string]string{
		"absolute":         outside,
		"relative":         rel,
		"dir-out":          filepath.Dir(outside),
		"absolute-to-self": filepath.Join(dir, "inside"), // os.Root refuses every absolute link
		"chain":            "absolute",
	}
	for name, target := range links {
		require.NoError(t, os.Symlink(target, filepath.Join(dir, name)))
	}

	for _, tc := range []struct{ name, id string }{
		{name: "absolute", id: "/absolute"},
		{name: "relative", id: "/relative"},
		{name: "directory link", id: "/dir-out/outside"},
		{name: "absolute link to a file inside", id: "/absolute-to-self"},
		{name: "chain", id: "/chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.Get(t.Context(), tc.id)
			require.Error(t, err)
			assert.ErrorIs(t, err, resolver.ErrPermission)
			assert.Equal(t, "permission", resolver.Class(err))
			assert.Contains(t, err.Error(), "path leaves the store directory")
			assert.Contains(t, err.Error(), tc.id)
			assert.NotContains(t, err.Error(), outsideValue)
		})
	}
}

func TestGetBadIDs(t *testing.T) {
	t.Parallel()
	// Files that a lax path check would let the bad ids reach.
	s, _ := newStore(t, map[string]string{"a": "value-a", "b/c": "value-c"})
	for _, tc := range []struct {
		name, id, wantMsg string
	}{
		{name: "empty", id: "", wantMsg: "empty file path"},
		{name: "slash only", id: "/", wantMsg: "empty file path"},
		{name: "two leading slashes", id: "//a", wantMsg: "empty element"},
		{name: "double slash", id: "b//c", wantMsg: "empty element"},
		{name: "trailing slash", id: "/b/", wantMsg: "empty element"},
		{name: "dot", id: "/./a", wantMsg: `"." element`},
		{name: "trailing dot", id: "/b/.", wantMsg: `"." element`},
		{name: "dot dot", id: "/..", wantMsg: `".." element`},
		{name: "dot dot inside", id: "/b/../a", wantMsg: `".." element`},
		{name: "dot dot escape", id: "../../etc/passwd", wantMsg: `".." element`},
		{name: "backslash", id: `b\c`, wantMsg: "backslash"},
		{name: "backslash dot dot", id: `..\a`, wantMsg: "backslash"},
		{name: "NUL", id: "a\x00b", wantMsg: "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.Get(t.Context(), tc.id)
			require.Error(t, err)
			assert.ErrorIs(t, err, resolver.ErrBadRef)
			assert.Contains(t, err.Error(), tc.wantMsg)
			assert.NotContains(t, err.Error(), "value-")
		})
	}
}

func TestGetLineEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, content, want string
	}{
		{name: "none", content: "v", want: "v"},
		{name: "newline", content: "v\n", want: "v"},
		{name: "crlf", content: "v\r\n", want: "v"},
		{name: "two newlines", content: "v\n\n", want: "v\n"},
		{name: "two crlf", content: "v\r\n\r\n", want: "v\r\n"},
		{name: "lone cr", content: "v\r", want: "v\r"},
		{name: "newline then cr", content: "v\n\r", want: "v\n\r"},
		{name: "only newline", content: "\n", want: ""},
		{name: "only crlf", content: "\r\n", want: ""},
		{name: "trailing spaces", content: "v  \n", want: "v  "},
		{name: "inner newline", content: "line1\nline2\n", want: "line1\nline2"},
		{name: "empty", content: "", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newStore(t, map[string]string{"s": tc.content})
			v, err := s.Get(t.Context(), "/s")
			require.NoError(t, err)
			assert.Equal(t, tc.want, v.Value())
		})
	}
}

func TestGetSizeCap(t *testing.T) {
	t.Parallel()
	atCap := strings.Repeat("a", file.MaxSize)
	s, _ := newStore(t, map[string]string{
		"at-cap":       atCap,
		"over-cap":     atCap + "b",
		"over-with-nl": atCap + "\n", // the cap applies to the file, before the newline is stripped
	})
	v, err := s.Get(t.Context(), "/at-cap")
	require.NoError(t, err)
	assert.Len(t, v.Value(), file.MaxSize)

	for _, id := range []string{"/over-cap", "/over-with-nl"} {
		_, err := s.Get(t.Context(), id)
		require.Error(t, err, id)
		assert.ErrorIs(t, err, resolver.ErrBadRef, id)
		assert.Contains(t, err.Error(), "larger than 1 MiB", id)
		assert.Less(t, len(err.Error()), 200, "the message must not carry the content")
	}
}

// TestGetFIFO checks that a named pipe with no writer is refused at once
// rather than blocking the caller.
func TestGetFIFO(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t, nil)
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o600))

	done := make(chan error, 1)
	go func() {
		_, err := s.Get(t.Context(), "/pipe")
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.ErrorIs(t, err, resolver.ErrBadRef)
		assert.Contains(t, err.Error(), "not a regular file but a FIFO")
	case <-time.After(10 * time.Second):
		t.Fatal("Get blocked on a FIFO")
	}
}

func TestGetNotRegular(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t, map[string]string{"d/inner": "x"})
	require.NoError(t, os.Symlink("d", filepath.Join(dir, "dlink")))
	for _, id := range []string{"/d", "/dlink"} {
		_, err := s.Get(t.Context(), id)
		require.Error(t, err, id)
		assert.ErrorIs(t, err, resolver.ErrBadRef, id)
		assert.Contains(t, err.Error(), "not a regular file but a directory", id)
	}
	// A socket cannot be opened at all (ENXIO); it is refused by type.
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	require.NoError(t, err)
	defer l.Close()
	_, err = s.Get(t.Context(), "/sock")
	require.Error(t, err)
	assert.ErrorIs(t, err, resolver.ErrBadRef)
	assert.Contains(t, err.Error(), "not a regular file but a socket")

	t.Run("device", func(t *testing.T) {
		// The device numbers of /dev/null.
		if err := syscall.Mknod(filepath.Join(dir, "dev"), syscall.S_IFCHR|0o600, 1<<8|3); err != nil {
			t.Skipf("cannot create a device node here (needs CAP_MKNOD): %v", err)
		}
		_, err := s.Get(t.Context(), "/dev")
		require.Error(t, err)
		assert.ErrorIs(t, err, resolver.ErrBadRef)
		assert.Contains(t, err.Error(), "device")
	})

	// /dev/null is a device, but reaching it needs a link out of the
	// directory, which is refused before the type check.
	require.NoError(t, os.Symlink("/dev/null", filepath.Join(dir, "null-dev")))
	_, err = s.Get(t.Context(), "/null-dev")
	assert.ErrorIs(t, err, resolver.ErrPermission)
}

func TestGetNotFound(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t, map[string]string{"f": "not-found-test-value"})
	require.NoError(t, os.Symlink("missing-target", filepath.Join(dir, "dangling")))
	for _, id := range []string{"/missing", "/missing/deeper", "/f/below-a-file", "/dangling"} {
		_, err := s.Get(t.Context(), id)
		require.Error(t, err, id)
		assert.ErrorIs(t, err, resolver.ErrNotFound, id)
		assert.Equal(t, "not_found", resolver.Class(err), id)
		assert.Contains(t, err.Error(), id)
	}
}

// TestGetPermissionDenied needs a user that file modes apply to: as root
// (CI) the Gets run in a child process as nobody, on files root made mode
// 000 (see internal/testbed/nobody). The mapping itself is also unit-tested in
// TestMapError.
func TestGetPermissionDenied(t *testing.T) {
	t.Parallel()
	nobody.Run(t, func(t *testing.T, dir string) {
		writeFiles(t, dir, map[string]string{"locked": "locked-value", "lockdir/inner": "inner-value"})
		require.NoError(t, os.Chmod(filepath.Join(dir, "locked"), 0o000))
		require.NoError(t, os.Chmod(filepath.Join(dir, "lockdir"), 0o000))
		t.Cleanup(func() { _ = os.Chmod(filepath.Join(dir, "lockdir"), 0o755) })
	}, func(t *testing.T, dir string) {
		s, err := file.New(dir)
		require.NoError(t, err)
		for _, id := range []string{"/locked", "/lockdir/inner"} {
			_, err := s.Get(t.Context(), id)
			require.Error(t, err, id)
			assert.ErrorIs(t, err, resolver.ErrPermission, id)
			assert.Equal(t, "permission", resolver.Class(err), id)
			assert.Contains(t, err.Error(), id)
			assert.NotContains(t, err.Error(), "-value", id)
		}
	})
}

func TestGetStoreDirectoryRemoved(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dir := filepath.Join(parent, "secrets")
	writeFiles(t, dir, map[string]string{"s": "removed-dir-value"})
	s, err := file.New(dir)
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(dir))

	_, err = s.Get(t.Context(), "/s")
	require.Error(t, err)
	assert.ErrorIs(t, err, resolver.ErrUnavailable)
	assert.Contains(t, err.Error(), "store directory")
}

func TestGetSymlinkLoop(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t, nil)
	require.NoError(t, os.Symlink("b", filepath.Join(dir, "a")))
	require.NoError(t, os.Symlink("a", filepath.Join(dir, "b")))
	_, err := s.Get(t.Context(), "/a")
	require.Error(t, err)
	assert.ErrorIs(t, err, resolver.ErrBadRef, "a loop never resolves: permanent, not retried")
	assert.False(t, resolver.Transient(err))
	assert.Contains(t, err.Error(), `"/a"`)
}

// TestGetNameTooLong: a path element longer than the filesystem allows
// can never be read: bad_ref, not retried, and the message names the id
// once.
func TestGetNameTooLong(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t, nil)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "openmetadata"), 0o700))
	id := "/openmetadata/" + strings.Repeat("x", 300)
	_, err := s.Get(t.Context(), id)
	require.Error(t, err)
	assert.ErrorIs(t, err, resolver.ErrBadRef)
	assert.False(t, resolver.Transient(err))
	assert.Equal(t, 1, strings.Count(err.Error(), strings.Repeat("x", 300)))
}

// TestGetReadsAnew checks that a changed file is seen on the next Get.
func TestGetReadsAnew(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t, map[string]string{"s": "first-value"})
	v, err := s.Get(t.Context(), "s")
	require.NoError(t, err)
	assert.Equal(t, "first-value", v.Value())
	writeFiles(t, dir, map[string]string{"s": "second-value"})
	v, err = s.Get(t.Context(), "s")
	require.NoError(t, err)
	assert.Equal(t, "second-value", v.Value())
}
