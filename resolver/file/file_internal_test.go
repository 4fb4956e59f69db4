package file

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"omsecrets/resolver"
)

// TestMapError covers the mapping of OS errors to classes, including the
// permission errors that tests running as root cannot produce for real.
func TestMapError(t *testing.T) {
	t.Parallel()
	// The error os.Root returns for a path that leaves the root.
	root, err := os.OpenRoot(t.TempDir())
	if !assert.NoError(t, err) {
		return
	}
	defer root.Close()
	_, escape := root.Open("../x")
	assert.Error(t, escape)

	pathErr := func(errno error) error { return &fs.PathError{Op: "openat", Path: "db/password", Err: errno} }
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{name: "ENOENT", err: pathErr(syscall.ENOENT), want: resolver.ErrNotFound},
		{name: "ENOTDIR", err: pathErr(syscall.ENOTDIR), want: resolver.ErrNotFound},
		{name: "fs.ErrNotExist", err: pathErr(fs.ErrNotExist), want: resolver.ErrNotFound},
		{name: "EACCES", err: pathErr(syscall.EACCES), want: resolver.ErrPermission},
		{name: "EPERM", err: pathErr(syscall.EPERM), want: resolver.ErrPermission},
		{name: "os.Root escape", err: escape, want: resolver.ErrPermission},
		{name: "EIO", err: pathErr(syscall.EIO), want: resolver.ErrUnavailable},
		{name: "ELOOP", err: pathErr(syscall.ELOOP), want: resolver.ErrBadRef},
		{name: "ENAMETOOLONG", err: pathErr(syscall.ENAMETOOLONG), want: resolver.ErrBadRef},
		{name: "EMFILE", err: pathErr(syscall.EMFILE), want: resolver.ErrUnavailable},
		{name: "plain error", err: errors.New("read failed"), want: resolver.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := mapError("/db/password", tc.err)
			assert.ErrorIs(t, got, tc.want)
			assert.Equal(t, resolver.Class(tc.want), resolver.Class(got))
			assert.Contains(t, got.Error(), `secret "/db/password"`)
			assert.Equal(t, 1, strings.Count(got.Error(), "db/password"), "the path is not repeated")
		})
	}
	assert.Contains(t, mapError("/x", escape).Error(), "path leaves the store directory")
}

// TestOpenCheckedFIFO checks the guard behind the type check of Get: a FIFO
// that reaches the open (say, swapped in after the Stat) neither blocks nor
// is read.
func TestOpenCheckedFIFO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if !assert.NoError(t, syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o600)) {
		return
	}
	root, err := os.OpenRoot(dir)
	if !assert.NoError(t, err) {
		return
	}
	defer root.Close()

	done := make(chan error, 1)
	go func() {
		f, err := openChecked(root, "/pipe", "pipe")
		if f != nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, resolver.ErrBadRef)
		assert.ErrorContains(t, err, "not a regular file but a FIFO")
	case <-time.After(10 * time.Second):
		t.Fatal("opening a FIFO blocked")
	}
}

func TestRelPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, id, want string
	}{
		{name: "leading slash", id: "/a", want: "a"},
		{name: "no slash", id: "a", want: "a"},
		{name: "nested", id: "/openmetadata/database/mysql_prod/authtype/password", want: "openmetadata/database/mysql_prod/authtype/password"},
		{name: "k8s data dir", id: "..data/key", want: "..data/key"},
		{name: "dots in a name", id: "/a..b/.c/d.", want: "a..b/.c/d."},
		{name: "unicode", id: "/パスワード", want: "パスワード"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := relPath(tc.id)
			assert.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// FuzzRelPath checks that every accepted id names a clean, relative path
// inside the directory.
func FuzzRelPath(f *testing.F) {
	for _, s := range []string{"/a", "a/b", "/../x", "a//b", `a\b`, "/./x", "..data/k", "/", "", "\x93"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		p, err := relPath(id)
		if err != nil {
			assert.ErrorIs(t, err, resolver.ErrBadRef)
			return
		}
		// Not fs.ValidPath: that also wants UTF-8, and Linux file names
		// need not be.
		assert.Equal(t, strings.TrimPrefix(id, "/"), p)
		assert.NotEmpty(t, p)
		assert.False(t, strings.HasPrefix(p, "/"), "%q is absolute", p)
		assert.NotContains(t, p, `\`)
		assert.NotContains(t, p, "\x00")
		for elem := range strings.SplitSeq(p, "/") {
			assert.NotContains(t, []string{"", ".", ".."}, elem, "element of %q", p)
		}
	})
}
