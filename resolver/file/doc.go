// Package file implements a resolver.Getter that reads secrets from a
// directory holding one file per secret, such as a mounted Kubernetes Secret
// volume or docker-compose's /run/secrets.
//
// # Ids
//
// One leading '/' is stripped from the id and the rest is a slash-separated
// path under the directory: "secret:/db-password" and "secret:db-password"
// both read <dir>/db-password, and "secret:/mysql/password" reads
// <dir>/mysql/password. An empty path, and a path with an empty ("a//b"),
// "." or ".." element, a backslash or a NUL byte is refused as a bad
// reference.
//
// Files are opened through an os.Root on the directory: symbolic links are
// followed only while they stay inside it, so the "key -> ..data/key" and
// "..data -> ..<timestamp>" links of a Kubernetes Secret volume work, while a
// link that leaves the directory is refused (resolver.ErrPermission, "path
// leaves the store directory").
//
// # Values
//
// A secret must be a regular file of at most 1 MiB (MaxSize): anything else
// is a bad reference. The file's type is checked before it is opened, so a
// device or socket is never opened, and the open is non-blocking, so a FIFO
// swapped in meanwhile cannot hang the sidecar. Its content is the value, minus exactly one trailing "\n"
// or "\r\n": a file made with `echo secret > file` holds "secret\n" and
// resolves to "secret". Only one line end is stripped, so "a\n\n" resolves
// to "a\n", and other trailing whitespace is kept.
//
// # Errors
//
// A missing file (or a path through a file that is not a directory) is
// resolver.ErrNotFound; EACCES and EPERM are resolver.ErrPermission; other
// failures are resolver.ErrUnavailable. Messages name the id and never
// include file contents.
//
// The package owns only this mapping from ids to files. It does not watch
// the directory (every Get reads the file anew, so rotated secrets are seen
// on the next resolve) and does not create or change files.
package file
