//go:build unix && !linux

package main

import "syscall"

// procAttr puts a server in its own process group, so the bench can stop it
// and anything it started as one.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
