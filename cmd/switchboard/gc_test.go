package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	for _, tc := range []struct {
		name string
		gogc string
		set  int // the percent in force before tuneGC, as GOGC would have set it
		want int
	}{
		{"unset: the serve default", "", 100, serveGCPercent},
		{"set by the user: kept", "50", 50, 50},
		{"off by the user: kept", "off", -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(tc.set)
			got := tuneGC(func(k string) string {
				if k == "GOGC" {
					return tc.gogc
				}
				return ""
			})
			if got != tc.want {
				t.Errorf("tuneGC returned %d, want %d", got, tc.want)
			}
			if now := debug.SetGCPercent(100); now != tc.want {
				t.Errorf("GC percent in force %d, want %d", now, tc.want)
			}
		})
	}
}
