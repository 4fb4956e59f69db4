//go:build !unix

package watch

import "io/fs"

const openFlags = 0

// devIno is unknown off unix; content hashes still tell changes apart.
func devIno(fs.FileInfo) (dev, ino uint64) { return 0, 0 }

func absentErrno(error) bool { return false }

func limitHint(error) string { return "" }
