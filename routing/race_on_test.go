//go:build race

package routing

// raceEnabled: the race detector slows the SQLite-backed property test
// about tenfold, so it plays fewer seeds under it.
const raceEnabled = true
