package main

import "syscall"

// procAttr puts a server in its own process group, so the bench can stop it
// and anything it started as one, and has the kernel kill it if the bench
// itself dies without cleaning up.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
