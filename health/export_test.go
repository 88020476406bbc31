package health

// RunningLoops reports how many probe goroutines are alive.
func (m *Monitor) RunningLoops() int64 { return m.loops.Load() }
