// Package lograte keeps a failure that repeats from flooding the log: a
// database outage fails every send and every poll, and one line per
// failure would bury everything else (and fill the disk) while saying
// nothing more than the first.
package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is the interval of a Limiter whose Every is zero.
const DefaultEvery = 10 * time.Second

// Limiter logs one line per interval for a repeated event. The first
// event is logged at once; later ones within Every of the last line are
// counted, and one line at the end of the interval reports them: the
// newest event's attributes and "count", how many events the line stands
// for. So nothing is dropped silently, and an outage costs one line per
// Every. The zero value is ready to use (Every: DefaultEvery).
type Limiter struct {
	Every time.Duration

	mu      sync.Mutex
	last    time.Time // when the last line was logged
	count   int       // events not yet reported
	pending *pendingLine
	timer   *time.Timer // reports the pending line at the interval's end
}

type pendingLine struct {
	log   *slog.Logger
	level slog.Level
	msg   string
	args  []any
}

// Log logs msg with args and a "count" attribute, or counts it for the
// line at the end of the current interval.
func (l *Limiter) Log(log *slog.Logger, level slog.Level, msg string, args ...any) {
	every := l.Every
	if every <= 0 {
		every = DefaultEvery
	}
	l.mu.Lock()
	now := time.Now()
	if l.timer == nil && (l.last.IsZero() || now.Sub(l.last) >= every) {
		l.last = now
		l.mu.Unlock()
		log.Log(context.Background(), level, msg, append(args, "count", 1)...)
		return
	}
	l.count++
	l.pending = &pendingLine{log: log, level: level, msg: msg, args: args}
	if l.timer == nil {
		l.timer = time.AfterFunc(l.last.Add(every).Sub(now), l.flush)
	}
	l.mu.Unlock()
}

// flush logs the pending line with the count of events it stands for.
func (l *Limiter) flush() {
	l.mu.Lock()
	p, n := l.pending, l.count
	l.pending, l.count, l.timer = nil, 0, nil
	l.last = time.Now()
	l.mu.Unlock()
	if p != nil {
		p.log.Log(context.Background(), p.level, p.msg, append(p.args, "count", n)...)
	}
}
