package main

import "runtime/debug"

// serveGCPercent is the garbage collector's target for `switchboard serve`
// when GOGC is not set: the heap may grow to five times what is live
// before a collection, instead of Go's default of twice.
//
// Why: the gateway's live heap is small (tens of MB: the dispatcher's
// hand-off queue, prepared statements, the breaker and spend books) while
// every request allocates (HTTP, JSON, the store's arguments). At the
// default target the collector ran often enough to cost 8-13% of the
// process's CPU per accepted message in the ingest bench and to lengthen
// p99; at 400 the resident set grew from about 47 to 80 MB
// (BENCHMARKS.md, "Garbage collector target"). GOGC, when set, wins, and
// GOMEMLIMIT caps the heap either way.
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
