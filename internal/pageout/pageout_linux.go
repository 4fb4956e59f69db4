package pageout

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// madvPageout is MADV_PAGEOUT (linux/mman-common.h), which the syscall
// package does not name.
const madvPageout = 21

// Text asks the kernel to reclaim the resident pages of the process's
// read-only file mappings (its code and read-only data, and those of any
// file it maps read-only). It returns the number of mappings advised; a
// kernel without MADV_PAGEOUT refuses each, which changes nothing.
func Text() int {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		lo, hi, ok := readOnlyFileMapping(sc.Bytes())
		if !ok {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, lo, hi-lo, madvPageout); errno == 0 {
			n++
		}
	}
	return n
}

// readOnlyFileMapping parses a /proc/self/maps line ("lo-hi perms offset
// dev inode path") and reports the range of a mapping of a file that is
// not writable.
func readOnlyFileMapping(line []byte) (lo, hi uintptr, ok bool) {
	f := bytes.Fields(line)
	if len(f) < 6 || bytes.IndexByte(f[1], 'w') >= 0 || len(f[5]) == 0 || f[5][0] != '/' {
		return 0, 0, false
	}
	a, b, found := bytes.Cut(f[0], []byte{'-'})
	if !found {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(string(a), 16, 64)
	y, err2 := strconv.ParseUint(string(b), 16, 64)
	if err1 != nil || err2 != nil || y <= x {
		return 0, 0, false
	}
	return uintptr(x), uintptr(y), true
}
