// Package e2e tests Switchboard end to end: it builds the real binary once,
// starts gateway processes on 127.0.0.1 with configs from testdata/, and
// drives them over HTTP and the CLI, including SIGKILL crash recovery.
//
// Everything lives in _test.go files; this file only names the package.
package e2e
