package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a send rate written "30/s", "1800/m" or "10000/h"; zero means
// unlimited. A channel's token bucket allows bursts of up to one second's
// worth (at least 1).
type Rate struct {
	N   float64
	Per time.Duration
}

// PerSecond returns the rate in events per second (0: unlimited).
func (r Rate) PerSecond() float64 {
	if r.N <= 0 || r.Per <= 0 {
		return 0
	}
	return r.N / r.Per.Seconds()
}

// Burst is the token bucket size: one second's worth, at least 1.
func (r Rate) Burst() int {
	return max(1, int(r.PerSecond()))
}

// UnmarshalText parses "N/unit" with unit s, m or h.
func (r *Rate) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		return fmt.Errorf("want a rate like 30/s, 1800/m or 10000/h")
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive number before the /, like 30/s")
	}
	switch strings.TrimSpace(unit) {
	case "s", "sec", "second":
		r.Per = time.Second
	case "m", "min", "minute":
		r.Per = time.Minute
	case "h", "hour":
		r.Per = time.Hour
	default:
		return fmt.Errorf("unknown unit %q after the / (want s, m or h)", unit)
	}
	r.N = n
	return nil
}

// MarshalText writes the rate back as "N/unit".
func (r Rate) MarshalText() ([]byte, error) {
	if r.N <= 0 {
		return []byte(""), nil
	}
	unit := "s"
	switch r.Per {
	case time.Minute:
		unit = "m"
	case time.Hour:
		unit = "h"
	}
	return []byte(strconv.FormatFloat(r.N, 'f', -1, 64) + "/" + unit), nil
}
