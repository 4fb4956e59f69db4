package watch

import (
	"path/filepath"
	"strings"
)

// hidden reports whether name is hidden. Hidden names are never
// definitions; activity on them triggers a rescan of their directory,
// because that is all a Kubernetes volume update shows: the kubelet's
// AtomicWriter reserves names beginning with ".." and swaps the ..data
// symlink (kubernetes pkg/volume/util/atomic_writer.go).
func hidden(name string) bool { return strings.HasPrefix(name, ".") }

// eligible reports whether a directory entry named name may be a
// definition: not hidden and ending in .json, .yaml or .yml (any case, as
// render.FormatOf). Editor and tool leftovers (x.json~, x.json.swp, #x#,
// vim's 4913 probe, x.json.tmp) end in something else and so are out.
// Whether the entry is a regular file is checked separately.
func eligible(name string) bool {
	if name == "" || hidden(name) || strings.ContainsRune(name, filepath.Separator) {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json", ".yaml", ".yml":
		return true
	}
	return false
}
