package safefile_test

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

	"omsecrets/internal/safefile"
)

func TestReadRefusesWhatIsNotABoundedRegularFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	zero := filepath.Join(dir, "zero.json")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	loop := filepath.Join(dir, "loop")
	require.NoError(t, os.Symlink(loop, loop))
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, make([]byte, 1025), 0o600))
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	ok := filepath.Join(dir, "ok")
	require.NoError(t, os.WriteFile(ok, []byte("hello"), 0o600))

	tests := []struct {
		name, path string
		want       error
		text       string
	}{
		{"fifo", fifo, safefile.ErrNotRegular, "a FIFO"},
		{"symlink to /dev/zero", zero, safefile.ErrNotRegular, "a character device"},
		{"directory", dir, safefile.ErrNotRegular, "a directory"},
		{"socket", sock, nil, ""},
		{"too large", big, safefile.ErrTooLarge, "1025 bytes, more than 1024"},
		{"symlink loop", loop, syscall.ELOOP, ""},
		{"name too long", filepath.Join(dir, strings.Repeat("n", 300)), syscall.ENAMETOOLONG, ""},
		{"missing", filepath.Join(dir, "missing"), os.ErrNotExist, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := safefile.Read(tt.path, 1024)
			require.Error(t, err)
			assert.Less(t, time.Since(start), 2*time.Second, "returns at once")
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			}
			assert.Contains(t, err.Error(), tt.text)
			assert.NotContains(t, err.Error(), tt.path, "the caller names the path")
			assert.True(t, safefile.Permanent(err))
		})
	}
	b, err := safefile.Read(ok, 5)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(b))
}
