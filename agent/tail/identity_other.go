//go:build !unix

package tail

import "os"

// inodeOf has no inode to report on this platform: every file is inode
// zero, so rename rotation is not followed and only one file per source is
// tailed. The agent is built for Linux; this keeps the package compiling.
func inodeOf(os.FileInfo) inode { return inode{} }

// linksOf does not know the number of names a file has on this platform.
func linksOf(os.FileInfo) (n uint64, ok bool) { return 0, false }
