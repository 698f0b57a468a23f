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
