package pluginhost

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel kill the plugin when the agent dies, even by
// kill -9, so that no orphaned plugin outlives it.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
