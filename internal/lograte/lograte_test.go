package lograte

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// An outage of 1,000 events over 25 s with a 10 s interval: the first is
// logged at once, the rest on one line per interval with their count, and
// the counts add up to every event.
func TestLimiterOneLinePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
		l := &Limiter{Every: 10 * time.Second}
		for i := range 1000 {
			l.Log(log, slog.LevelError, "claim callbacks", "err", "connection refused", "i", i)
			time.Sleep(25 * time.Millisecond)
		}
		synctest.Wait()
		// 25 s of events: at 0, 10 s, 20 s and (flushed at) 30 s.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		got := lines(&buf)
		require.Len(t, got, 4, buf.String())
		require.Equal(t, `level=ERROR msg="claim callbacks" err="connection refused" i=0 count=1`, got[0])
		total := 0
		for _, line := range got {
			var n int
			_, after, ok := strings.Cut(line, " count=")
			require.True(t, ok, line)
			_, err := fmt.Sscan(after, &n)
			require.NoError(t, err)
			total += n
		}
		require.Equal(t, 1000, total, "every event counted once")
		require.Contains(t, got[3], "i=999", "the last line carries the newest event")

		// Quiet for longer than the interval: the next event is logged at once.
		buf.Reset()
		time.Sleep(time.Minute)
		l.Log(log, slog.LevelWarn, "again")
		require.Equal(t, []string{`level=WARN msg=again count=1`}, lines(&buf))
	})
}
