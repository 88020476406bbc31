package main

import "runtime/debug"

// serveGCPercent is the garbage collector's target for `switchboard serve`
// when GOGC is not set: the heap may grow to five times what is live
// before a collection, instead of Go's default of twice.
//
// Why: the gateway's live heap is small (5-6 MB under the ingest bench's
// full load) while every request allocates (HTTP, JSON, the store's
// arguments), so at the default target the collector ran about four
// times as often. The gain is a few percent of CPU per message; the
// resident set under full load grew from about 47 to 80 MB (BENCHMARKS.md,
// "Session 5: the collector's target; checkpoints tried"). GOGC, when
// set, wins, and GOMEMLIMIT caps the heap either way.
const serveGCPercent = 400

// tuneGC applies serveGCPercent unless the environment sets GOGC, and
// returns the target now in force.
func tuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		// SetGCPercent returns the previous value; put it straight back.
		cur := debug.SetGCPercent(100)
		debug.SetGCPercent(cur)
		return cur
	}
	debug.SetGCPercent(serveGCPercent)
	return serveGCPercent
}
