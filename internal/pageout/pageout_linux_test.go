package pageout

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rssFile reads RssFile (KiB) from /proc/self/status.
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestTextGivesBackFilePages: the test binary's own code pages, resident
// after start-up, are reclaimed, and the process goes on running (the
// pages it needs fault back in).
func TestTextGivesBackFilePages(t *testing.T) {
	before := rssFile(t)
	n := Text()
	after := rssFile(t)
	t.Logf("advised %d mappings; RssFile %d KiB -> %d KiB", n, before, after)
	require.Positive(t, n)
	assert.Less(t, after, before/2, "most file pages were given back")
	// Code it ran before runs again: its pages fault back in.
	_, _, ok := readOnlyFileMapping([]byte("00400000-00452000 r-xp 00000000 08:02 1 /bin/x"))
	assert.True(t, ok)
}

func TestReadOnlyFileMapping(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]bool{
		"00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/omsecrets": true,
		"00651000-00652000 r--p 00051000 08:02 173521 /usr/bin/omsecrets": true,
		"00652000-00655000 rw-p 00052000 08:02 173521 /usr/bin/omsecrets": false,
		"7ffd1000-7ffd2000 r-xp 00000000 00:00 0 [vdso]":                  false,
		"7f000000-7f100000 rw-p 00000000 00:00 0":                         false,
		"garbage":             false,
		"zz-yy r-xp 0 0 0 /x": false,
		"00002000-00001000 r-xp 00000000 08:02 1 /x": false,
	} {
		_, _, ok := readOnlyFileMapping([]byte(line))
		assert.Equal(t, want, ok, line)
	}
}
