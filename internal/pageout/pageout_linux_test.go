package pageout

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exeText returns the ranges of the test binary's read-only mappings and
// their resident KiB (Rss, from /proc/self/smaps). Only these are measured:
// the shared libraries a -race binary links (libc, ld.so) are mapped by
// other processes too, and the kernel pages out no page another process
// maps, so the process's RssFile keeps them whatever Text does.
func exeText(t *testing.T) (ranges [][2]uintptr, rssKiB int) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	b, err := os.ReadFile("/proc/self/smaps")
	require.NoError(t, err)
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasSuffix(f[0], ":") {
			// A mapping's header line.
			lo, hi, ok := readOnlyFileMapping([]byte(l))
			in = ok && len(f) == 6 && f[5] == exe
			if in {
				ranges = append(ranges, [2]uintptr{lo, hi})
			}
			continue
		}
		if v, ok := strings.CutPrefix(l, "Rss:"); ok && in {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			require.NoError(t, err)
			rssKiB += n
		}
	}
	require.NotEmpty(t, ranges, "no read-only mapping of %s in /proc/self/smaps", exe)
	return ranges, rssKiB
}

// touch makes every page of ranges resident, reading a byte of each
// through /proc/self/mem, which faults it into the process.
func touch(t *testing.T, ranges [][2]uintptr) {
	t.Helper()
	mem, err := os.Open("/proc/self/mem")
	require.NoError(t, err)
	defer mem.Close()
	page := uintptr(os.Getpagesize())
	var b [1]byte
	for _, r := range ranges {
		for a := r[0]; a < r[1]; a += page {
			_, err := mem.ReadAt(b[:], int64(a))
			require.NoError(t, err)
		}
	}
}

// TestTextGivesBackFilePages: the test binary's own code and read-only
// data pages, all made resident first (a run after the first with -count
// finds most of them given back already), are reclaimed, and the process
// goes on running (the pages it needs fault back in).
func TestTextGivesBackFilePages(t *testing.T) {
	ranges, _ := exeText(t)
	touch(t, ranges)
	_, before := exeText(t)
	n := Text()
	_, after := exeText(t)
	t.Logf("advised %d mappings; the binary's read-only pages: %d KiB -> %d KiB resident", n, before, after)
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
