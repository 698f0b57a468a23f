//go:build unix

package tail

import (
	"os"
	"syscall"
)

// inodeOf returns the device and inode number of fi. (The conversions
// matter: Stat_t field types differ between platforms.)
func inodeOf(fi os.FileInfo) inode {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return inode{}
	}
	return inode{dev: uint64(st.Dev), ino: uint64(st.Ino)}
}

// linksOf returns the number of names fi has; ok is false when the platform
// does not say.
func linksOf(fi os.FileInfo) (n uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Nlink), true
}
