package e2e

import "syscall"

// procAttr kills a gateway if the test process dies first (a panic or a
// -timeout), so no gateway outlives its test run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
