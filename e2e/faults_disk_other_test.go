//go:build !linux

package e2e

import "testing"

func sqliteFullDisk(t *testing.T, _ faultSize) faultResult {
	t.Skip("SKIPPED, not passed: the full-disk scenario needs Linux mount namespaces and tmpfs")
	return faultResult{}
}
