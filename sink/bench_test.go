package sink

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkWrite measures a changed write (temp file, fsync, rename,
// directory fsync) and an unchanged one (compare only) of a 2 KiB config
// on /dev/shm.
func BenchmarkWrite(b *testing.B) {
	dir, err := os.MkdirTemp("/dev/shm", "omsecrets-bench-")
	if err != nil {
		b.Skipf("no /dev/shm: %v", err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	f, err := New(Options{Dir: dir, Group: -1})
	if err != nil {
		b.Fatal(err)
	}
	payloads := [][]byte{bytes.Repeat([]byte("a"), 2048), bytes.Repeat([]byte("b"), 2048)}
	b.Run("changed", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := f.Write("bench.json", payloads[i%2]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.Write("bench.json", payloads[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
