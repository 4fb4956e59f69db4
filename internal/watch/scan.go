package watch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Scan lists the definition files in dirs once, with the same rules the
// Watcher applies: direct children with an eligible name that are (or
// link to) regular files, sorted. It is the watcher's initial scan for a
// one-shot run. A missing dir is an error naming it.
func Scan(dirs []string) ([]string, error) {
	var out []string
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("watch dir %s: %w", dir, err)
		}
		for _, e := range entries {
			if !eligible(e.Name()) {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
