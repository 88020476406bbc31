package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// The binary is one static file: it carries the IANA time zone
	// database rather than trusting the host's /usr/share/zoneinfo (absent
	// from scratch and distroless images).
	_ "time/tzdata"
)

// QuietHoursRecipient is QuietHours.Timezone's value for the recipient's own
// zone, from their phone number.
const QuietHoursRecipient = "recipient"

// QuietHours is a policy's daily window in which it hands nothing to a
// provider: a message that would go out inside it waits until it ends
// (status scheduled), unless its TTL ends first. OTP-like policies leave
// it out.
type QuietHours struct {
	From string `yaml:"from"` // "21:00", local wall clock, inclusive
	To   string `yaml:"to"`   // "08:00", exclusive; before From: the window spans midnight
	// Timezone is "recipient" (the zones of the recipient's phone or
	// whatsapp number, from libphonenumber's time zone data: a number
	// spanning several zones waits until the window is over in all of
	// them) or an IANA name such as "Europe/Berlin".
	Timezone string `yaml:"timezone"`
	// FallbackTimezone is used with timezone: recipient when the message
	// has no phone number, or the number's zone is unknown (a
	// non-geographic range). Default UTC.
	FallbackTimezone string `yaml:"fallback_timezone"`
}

// Clock parses a "HH:MM" wall-clock time into minutes after midnight.
func Clock(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, false
	}
	return hh*60 + mm, true
}

// checkQuiet validates a policy's quiet_hours (p is its key path).
func (v *checker) checkQuiet(p string, q *QuietHours) {
	if q == nil {
		return
	}
	p += ".quiet_hours"
	from, okFrom := Clock(q.From)
	to, okTo := Clock(q.To)
	for _, f := range []struct {
		key, val string
		ok       bool
	}{{"from", q.From, okFrom}, {"to", q.To, okTo}} {
		if !f.ok {
			v.errorf(p+"."+f.key, "%q is not a time of day (want HH:MM, 24-hour, like \"21:00\")", f.val)
		}
	}
	if okFrom && okTo && from == to {
		v.errorf(p+".to", "the window is empty: from and to are both %s", q.From)
	}
	switch {
	case q.Timezone == "":
		v.errorf(p+".timezone", "missing: give %q or an IANA time zone such as \"Europe/Berlin\"", QuietHoursRecipient)
	case q.Timezone != QuietHoursRecipient:
		if _, err := time.LoadLocation(q.Timezone); err != nil || q.Timezone == "Local" {
			v.errorf(p+".timezone", "%q is not an IANA time zone (want %q or a name such as \"Europe/Berlin\")", q.Timezone, QuietHoursRecipient)
		}
	}
	if q.FallbackTimezone != "" {
		if q.Timezone != QuietHoursRecipient {
			v.errorf(p+".fallback_timezone", "only used with timezone: %s", QuietHoursRecipient)
		} else if _, err := time.LoadLocation(q.FallbackTimezone); err != nil || q.FallbackTimezone == "Local" {
			v.errorf(p+".fallback_timezone", "%q is not an IANA time zone", q.FallbackTimezone)
		}
	}
}

// String is the window as explain and a reload's diff show it:
// "21:00-08:00 recipient", or "none".
func (q *QuietHours) String() string {
	if q == nil {
		return "none"
	}
	return fmt.Sprintf("%s-%s %s", q.From, q.To, q.Timezone)
}
