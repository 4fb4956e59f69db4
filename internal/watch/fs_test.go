//go:build unix

package watch

import (
	"hash/maphash"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/nobody"
)

func TestFingerprint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := osFS{seed: maphash.MakeSeed()}
	path := func(name string) string { return filepath.Join(dir, name) }
	write := func(name, data string) {
		require.NoError(t, os.WriteFile(path(name), []byte(data), 0o600))
	}
	fpOf := func(name string) (fingerprint, bool) {
		fp, ok, err := o.fingerprint(path(name))
		require.NoError(t, err)
		return fp, ok
	}

	write("a.json", `{"password":"aaaa"}`)
	a1, ok := fpOf("a.json")
	require.True(t, ok)
	assert.True(t, a1.hashed)

	// Same size, same mtime (forced back), different bytes: only the
	// content hash tells.
	fi, err := os.Stat(path("a.json"))
	require.NoError(t, err)
	write("a.json", `{"password":"bbbb"}`)
	require.NoError(t, os.Chtimes(path("a.json"), fi.ModTime(), fi.ModTime()))
	a2, _ := fpOf("a.json")
	assert.Equal(t, a1.size, a2.size)
	assert.Equal(t, a1.mtime, a2.mtime)
	assert.False(t, a1.same(a2), "same-size rewrite within one mtime tick must count")

	// New inode, newer mtime, identical bytes: not a change.
	write("tmp", `{"password":"bbbb"}`)
	require.NoError(t, os.Chtimes(path("tmp"), time.Now().Add(time.Hour), time.Now().Add(time.Hour)))
	require.NoError(t, os.Rename(path("tmp"), path("a.json")))
	a3, _ := fpOf("a.json")
	assert.NotEqual(t, a2.ino, a3.ino)
	assert.True(t, a2.same(a3), "identical content behind a new inode is no change")

	// Symlinks are followed; a dangling one is absent.
	require.NoError(t, os.Symlink("a.json", path("link.json")))
	l, ok := fpOf("link.json")
	assert.True(t, ok)
	assert.True(t, l.same(a3))
	require.NoError(t, os.Symlink("nowhere.json", path("dangling.json")))
	_, ok = fpOf("dangling.json")
	assert.False(t, ok)
	require.NoError(t, os.Symlink("loop.json", path("loop.json")))
	_, ok = fpOf("loop.json")
	assert.False(t, ok, "a symlink loop counts as absent")

	// Directories, FIFOs (opening one would block) and missing files.
	require.NoError(t, os.Mkdir(path("sub.json"), 0o700))
	_, ok = fpOf("sub.json")
	assert.False(t, ok)
	require.NoError(t, syscall.Mkfifo(path("fifo.json"), 0o600))
	_, ok = fpOf("fifo.json")
	assert.False(t, ok)
	_, ok = fpOf("missing.json")
	assert.False(t, ok)
	_, ok = fpOf("a.json/child")
	assert.False(t, ok, "a path through a file counts as absent")

	// Too large to hash: compared by stat identity.
	write("big.json", strings.Repeat("x", hashLimit+1))
	big, ok := fpOf("big.json")
	assert.True(t, ok)
	assert.False(t, big.hashed)
	assert.NotZero(t, big.ino)

	// Another process (seed) gets different sums for the same bytes.
	other := osFS{seed: maphash.MakeSeed()}
	b, _, err := other.fingerprint(path("a.json"))
	require.NoError(t, err)
	assert.NotEqual(t, a3.sum, b.sum)
}

// TestFingerprintUnreadable needs a user that file modes apply to: as root
// (CI) the checks run in a child process as nobody (see internal/testbed/nobody).
func TestFingerprintUnreadable(t *testing.T) {
	t.Parallel()
	const theirs = `{"v":1}`
	nobody.Run(t, func(t *testing.T, dir string) {
		// Made by the test's own user (root in CI), mode 000.
		p := filepath.Join(dir, "theirs.json")
		require.NoError(t, os.WriteFile(p, []byte(theirs), 0o600))
		require.NoError(t, os.Chmod(p, 0))
	}, func(t *testing.T, dir string) {
		o := osFS{seed: maphash.MakeSeed()}
		fp, ok, err := o.fingerprint(filepath.Join(dir, "theirs.json"))
		require.NoError(t, err)
		assert.True(t, ok, "an unreadable file is present")
		assert.False(t, fp.hashed)
		assert.EqualValues(t, len(theirs), fp.size, "known by its stat identity")
		assert.NotZero(t, fp.ino)

		// A file that becomes unreadable changes its fingerprint, so the
		// consumer sees it (and, later, its repair).
		p := filepath.Join(dir, "a.json")
		require.NoError(t, os.WriteFile(p, []byte("{}"), 0o600))
		readable, ok, err := o.fingerprint(p)
		require.NoError(t, err)
		require.True(t, ok)
		require.True(t, readable.hashed)
		require.NoError(t, os.Chmod(p, 0))
		unreadable, ok, err := o.fingerprint(p)
		require.NoError(t, err)
		assert.True(t, ok, "an unreadable file is present")
		assert.False(t, unreadable.hashed)
		assert.False(t, readable.same(unreadable))
	})
}

func TestListAndCheckDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.json"), nil, 0o600))
	var o osFS
	names, err := o.list(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"a.json"}, names)
	assert.NoError(t, o.checkDir(dir))
	assert.ErrorIs(t, o.checkDir(filepath.Join(dir, "a.json")), errNotDir)
	err = o.checkDir(filepath.Join(dir, "missing"))
	assert.True(t, absent(err), "%v", err)
	_, err = o.list(filepath.Join(dir, "missing"))
	assert.True(t, absent(err), "%v", err)
}
