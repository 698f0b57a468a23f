//go:build !linux

package pluginhost

import "os/exec"

// setProcAttr does nothing where the kernel cannot tie a child's life to
// its parent's; Host.Close stops the plugin.
func setProcAttr(*exec.Cmd) {}
