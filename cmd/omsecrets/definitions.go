package main

import (
	"os"
	"slices"
	"strings"

	"omsecrets/internal/watch"
)

// definitionFiles lists the definitions that args name, for every command
// that takes definitions (resolve, check, plan and run --once): one rule,
// so that a directory means the same to all of them.
//
//   - A directory (or a symlink to one) is scanned as run's watcher scans
//     it (watch.Scan): its direct children with a definition's name
//     (*.json, *.yaml, *.yml in any case, not hidden) that are, after
//     following symlinks, regular files. Subdirectories, other names,
//     FIFOs, devices and dangling symlinks in it are not definitions and
//     are passed over, as the watcher passes over them.
//   - Anything else is itself a definition (a KubernetesExecutor pod can
//     name just its DAG's): a file, and also a FIFO, a device, a symlink
//     loop or a path that does not exist, which the pipeline refuses with
//     one line naming it while the other definitions carry on.
//
// The list is sorted, each path once. A directory that cannot be read is
// an error naming it.
func definitionFiles(args []string) ([]string, error) {
	var files, dirs []string
	for _, a := range args {
		if fi, err := os.Stat(a); err == nil && fi.IsDir() {
			dirs = append(dirs, a)
		} else {
			files = append(files, a)
		}
	}
	found, err := watch.Scan(dirs)
	if err != nil {
		return nil, err
	}
	return slices.Compact(slices.Sorted(slices.Values(append(files, found...)))), nil
}

// definitions is definitionFiles for a command: a directory that cannot
// be read is a usage error, and finding no definition at all is a
// failure, logged on one line naming args (an init container must not let
// its task start without its config, and a check or plan of nothing must
// not look like a pass).
func (s *session) definitions(args []string) ([]string, error) {
	paths, err := definitionFiles(args)
	if err != nil {
		return nil, &usageError{err}
	}
	if len(paths) == 0 {
		s.logger.Error("no definitions: nothing to read", "paths", strings.Join(args, ","),
			"reads", "the files named, and the *.json, *.yaml and *.yml files directly in the directories named")
		return nil, errFailed
	}
	return paths, nil
}
