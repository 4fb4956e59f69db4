package sink

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memDir returns a fresh directory under /dev/shm, skipping the test when
// /dev/shm is not tmpfs (some containers and CI runners).
func memDir(t *testing.T) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err != nil || uint32(st.Type) != tmpfsMagic {
		t.Skipf("/dev/shm is not tmpfs here (statfs: magic 0x%x, err %v); this test needs a tmpfs directory", uint32(st.Type), err)
	}
	dir, err := os.MkdirTemp("/dev/shm", "omsecrets-sink-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func gidOf(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	gid, ok := fileGID(fi)
	require.True(t, ok)
	return gid
}

func TestNewFilesystemCheck(t *testing.T) {
	t.Parallel()
	shm := memDir(t)
	disk := t.TempDir()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(disk, &st))
	diskIsMem := uint32(st.Type) == tmpfsMagic || uint32(st.Type) == ramfsMagic

	tests := []struct {
		name      string
		opts      Options
		needsDisk bool
		wantErr   bool
	}{
		{name: "disk refused", opts: Options{Dir: disk, Group: -1}, needsDisk: true, wantErr: true},
		{name: "disk refused with group", opts: Options{Dir: disk, Group: os.Getgid()}, needsDisk: true, wantErr: true},
		{name: "disk allowed", opts: Options{Dir: disk, Group: -1, AllowDisk: true}},
		{name: "tmpfs accepted", opts: Options{Dir: shm, Group: -1}},
		{name: "tmpfs accepted with group", opts: Options{Dir: shm, Group: os.Getgid()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.needsDisk && diskIsMem {
				t.Skipf("t.TempDir() %s is memory-backed here; cannot test the refusal", disk)
			}
			f, err := New(tt.opts)
			if !tt.wantErr {
				require.NoError(t, err)
				assert.Equal(t, tt.opts.Dir, f.Dir())
				return
			}
			require.ErrorIs(t, err, ErrNotTmpfs)
			assert.Nil(t, f)
			msg := err.Error()
			assert.Contains(t, msg, fmt.Sprintf("output directory %q is on ", disk))
			assert.Contains(t, msg, "(not tmpfs or ramfs)")
			assert.Contains(t, msg, "medium: Memory")
			assert.Contains(t, msg, "--allow-disk")
			assert.Contains(t, msg, "OMSECRETS_ALLOW_DISK=true")
			assert.NotContains(t, msg, "\n", "one line")
			assert.Contains(t, msg, fsName(uint32(st.Type)), "names the filesystem")
		})
	}
}

func TestFSName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		magic uint32
		want  string
	}{
		{name: "ext4", magic: 0xef53, want: "ext2/ext3/ext4"},
		{name: "xfs", magic: 0x58465342, want: "xfs"},
		{name: "overlayfs", magic: 0x794c7630, want: "overlayfs"},
		{name: "unknown", magic: 0x12345678, want: "a filesystem with magic 0x12345678"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, fsName(tt.magic))
		})
	}
}

func TestWriteOnTmpfs(t *testing.T) {
	t.Parallel()
	dir := memDir(t)
	f, err := New(Options{Dir: dir, Group: -1})
	require.NoError(t, err)
	changed, err := f.Write("pipeline.json", secretPayload)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, secretPayload, readFile(t, filepath.Join(dir, "pipeline.json")))
	assert.Equal(t, []string{"pipeline.json"}, entries(t, dir))
}

func TestWriteModeAndGroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		group    int
		rootOnly bool
		wantMode os.FileMode
		wantGID  int // -1: not checked
	}{
		{name: "no group", group: -1, wantMode: 0o600, wantGID: -1},
		{name: "own group", group: os.Getgid(), wantMode: 0o640, wantGID: os.Getgid()},
		// Only root may give a file to a group it is not in.
		{name: "other group", group: 4242, rootOnly: true, wantMode: 0o640, wantGID: 4242},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.rootOnly && os.Geteuid() != 0 {
				t.Skip("needs root to chown to an arbitrary group")
			}
			f, dir := diskSink(t, tt.group)
			assert.Equal(t, tt.wantMode, f.Mode())
			_, err := f.Write("x", secretPayload)
			require.NoError(t, err)
			path := filepath.Join(dir, "x")
			fi, err := os.Lstat(path)
			require.NoError(t, err)
			assert.Equal(t, tt.wantMode, fi.Mode())
			if tt.wantGID >= 0 {
				assert.Equal(t, tt.wantGID, gidOf(t, path))
			}
		})
	}
}

// TestWriteModeUnderUmask must not run in parallel: the umask is
// process-wide. Parallel tests only start once all sequential ones are done.
func TestWriteModeUnderUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })

	tests := []struct {
		name     string
		group    int
		wantMode os.FileMode
	}{
		{name: "no group", group: -1, wantMode: 0o600},
		{name: "group bits survive umask 077", group: os.Getgid(), wantMode: 0o640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, dir := diskSink(t, tt.group)
			var seen os.FileMode
			// Check the temp file too: it must have the final mode before
			// the rename, not only after.
			f.beforeRename = func(tmp string) error {
				fi, err := os.Lstat(filepath.Join(dir, tmp))
				if err != nil {
					return err
				}
				seen = fi.Mode()
				return nil
			}
			_, err := f.Write("x", secretPayload)
			require.NoError(t, err)
			fi, err := os.Lstat(filepath.Join(dir, "x"))
			require.NoError(t, err)
			assert.Equal(t, tt.wantMode, fi.Mode())
			assert.Equal(t, tt.wantMode, seen, "temp file mode")
		})
	}
}

func TestWriteRepairsGroup(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown the file to another group")
	}
	f, dir := diskSink(t, os.Getgid())
	path := filepath.Join(dir, "x")
	_, err := f.Write("x", secretPayload)
	require.NoError(t, err)
	require.NoError(t, os.Chown(path, -1, os.Getgid()+4242))

	changed, err := f.Write("x", secretPayload)
	require.NoError(t, err)
	assert.True(t, changed, "same bytes but wrong group is rewritten")
	assert.Equal(t, os.Getgid(), gidOf(t, path))

	changed, err = f.Write("x", secretPayload)
	require.NoError(t, err)
	assert.False(t, changed)
}

func TestConcurrentReaderSeesWholeFiles(t *testing.T) {
	t.Parallel()
	dir := memDir(t)
	f, err := New(Options{Dir: dir, Group: -1})
	require.NoError(t, err)
	path := filepath.Join(dir, "cfg.json")
	payloads := [2][]byte{bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 3<<10)}
	const writes = 1000

	// The file exists before the reader starts, so ENOENT is a failure.
	_, err = f.Write("cfg.json", payloads[1])
	require.NoError(t, err)

	done := make(chan struct{})
	var writeErr error
	unchanged := 0
	go func() {
		defer close(done)
		for i := range writes {
			changed, err := f.Write("cfg.json", payloads[i%2])
			if err != nil {
				writeErr = err
				return
			}
			if !changed {
				unchanged++
			}
		}
	}()

	reads := 0
	var bad string
	for running := true; running; {
		select {
		case <-done:
			running = false // one more read after the last write
		default:
		}
		got, err := os.ReadFile(path)
		reads++
		if err != nil {
			bad = fmt.Sprintf("read %d: %v", reads, err)
			break
		}
		if !bytes.Equal(got, payloads[0]) && !bytes.Equal(got, payloads[1]) {
			bad = fmt.Sprintf("read %d: %d bytes that match neither payload", reads, len(got))
			break
		}
	}
	<-done
	require.NoError(t, writeErr)
	assert.Empty(t, bad, "every read sees one whole payload")
	assert.Zero(t, unchanged, "alternating payloads always change the file")
	assert.Greater(t, reads, 1)
	assert.Equal(t, payloads[1], readFile(t, path), "last write wins")
	assert.Equal(t, []string{"cfg.json"}, entries(t, dir), "no temp files left")
	t.Logf("%d reads during %d writes", reads, writes)
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	dir := memDir(t)
	f, err := New(Options{Dir: dir, Group: -1})
	require.NoError(t, err)
	const writers, rounds = 8, 50

	payload := func(w int) []byte { return []byte(strings.Repeat(fmt.Sprint(w), 100+w)) }
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds*2)
	for w := range writers {
		wg.Go(func() {
			for range rounds {
				// Same name from every writer, plus one name per writer.
				if _, err := f.Write("shared", payload(w)); err != nil {
					errs <- err
				}
				if _, err := f.Write(fmt.Sprintf("own-%d", w), payload(w)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}

	got := readFile(t, filepath.Join(dir, "shared"))
	ok := false
	for w := range writers {
		ok = ok || bytes.Equal(got, payload(w))
		assert.Equal(t, payload(w), readFile(t, filepath.Join(dir, fmt.Sprintf("own-%d", w))))
	}
	assert.True(t, ok, "shared holds one writer's whole payload")
	assert.Empty(t, hidden(t, dir), "no temp files left")
}

func TestRemoveOnTmpfs(t *testing.T) {
	t.Parallel()
	dir := memDir(t)
	f, err := New(Options{Dir: dir, Group: -1})
	require.NoError(t, err)
	_, err = f.Write("x", secretPayload)
	require.NoError(t, err)
	require.NoError(t, f.Remove("x"))
	_, err = os.Lstat(filepath.Join(dir, "x"))
	assert.True(t, errors.Is(err, fs.ErrNotExist))
	assert.NoError(t, f.Remove("x"), "absent is not an error")
}
