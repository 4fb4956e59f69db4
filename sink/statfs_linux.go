package sink

import (
	"fmt"
	"syscall"
)

// Filesystem magic numbers from linux/magic.h. Only tmpfs and ramfs are
// accepted; the rest exist so a refusal can name what the directory is on.
const (
	tmpfsMagic = 0x01021994
	ramfsMagic = 0x858458f6
)

var fsNames = map[uint32]string{
	0x0000ef53: "ext2/ext3/ext4",
	0x58465342: "xfs",
	0x9123683e: "btrfs",
	0x2fc12fc1: "zfs",
	0xf2f52010: "f2fs",
	0x794c7630: "overlayfs",
	0x61756673: "aufs",
	0x00006969: "nfs",
	0xff534d42: "cifs",
	0xfe534d42: "smb2",
	0x01021997: "9p",
	0x65735546: "fuse",
	0x73717368: "squashfs",
	0x00004d44: "vfat",
	0x5346544e: "ntfs",
	0x0000f15f: "ecryptfs",
	0x00c36400: "ceph",
	0x47504653: "gpfs",
}

// checkMemoryFS returns an error wrapping ErrNotTmpfs unless dir is on tmpfs
// or ramfs: only then do resolved secrets stay in memory.
func checkMemoryFS(dir string) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("check filesystem of output directory %q: %w", dir, err)
	}
	// f_type is a signed word whose width varies by architecture; the magic
	// numbers are 32-bit, so compare the low 32 bits.
	magic := uint32(st.Type)
	if magic == tmpfsMagic || magic == ramfsMagic {
		return nil
	}
	return &notMemoryFSError{dir: dir, reason: "is on " + fsName(magic) +
		" (not tmpfs or ramfs): resolved secrets would be written to disk"}
}

// fsName names a filesystem magic number, or formats it in hex.
func fsName(magic uint32) string {
	if name, ok := fsNames[magic]; ok {
		return name
	}
	return fmt.Sprintf("a filesystem with magic 0x%x", magic)
}
