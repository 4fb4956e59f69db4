// Package sink writes fully-resolved OpenMetadata workflow configs to files
// that the Airflow ingestion task reads.
//
// Those configs hold plaintext passwords, so the package owns everything
// about getting bytes onto the filesystem safely:
//
//   - refusing an output directory that is not memory-backed (tmpfs or
//     ramfs) unless the operator explicitly allows disk, so secrets do not
//     end up on a persistent volume by accident (New, ErrNotTmpfs);
//   - atomic replacement: a reader sees either the previous complete file or
//     the new complete file, never a partial or missing one (File.Write);
//   - permissions: outputs are 0600, or 0640 with a group, from the moment
//     the first byte is written, whatever the process umask is;
//   - confinement: an output name is a single path element and all file
//     operations go through os.Root, so neither a crafted name nor a symlink
//     planted in the directory can make a write land outside it
//     (ErrBadName);
//   - turning pipeline names into safe file names with OpenMetadata's own
//     dag_id rule (Name).
//
// It does not own rendering or resolving configs (it receives final bytes),
// deciding which outputs should exist or pruning stale ones (callers call
// Remove), mounting the directory, or logging. Errors name paths and never
// contain file contents.
package sink
