package admission

import (
	"slices"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// unknownZone is libphonenumber's answer for a number it cannot place in
// any zone (non-geographic ranges such as +800).
const unknownZone = "Etc/Unknown"

// zoneCache holds loaded locations by IANA name: loading one reads and
// parses the embedded tz database, and a +1 number names 40-odd zones.
var zoneCache sync.Map // string -> *time.Location

// Timezones returns the time zones a phone number (E.164) may ring in,
// from libphonenumber's time zone data: one for most numbers, several for
// a number whose range spans zones (a +1 number the data cannot place
// gives every North American zone). It returns nil when the number does
// not parse or the data knows no zone for it; the caller then falls back
// (config.QuietHours.FallbackTimezone). Zones this binary's tz database
// does not know are left out.
func Timezones(e164 string) []*time.Location {
	num, ok := parseE164(e164)
	if !ok || num.CountryCode == nil {
		return nil
	}
	names, err := phonenumbers.GetTimezonesForNumber(num)
	if err != nil {
		return nil
	}
	var out []*time.Location
	for _, name := range names {
		if name == unknownZone {
			continue
		}
		if loc := Location(name); loc != nil && !slices.Contains(out, loc) {
			out = append(out, loc)
		}
	}
	return out
}

// Location loads an IANA zone once and keeps it; nil if it is unknown.
func Location(name string) *time.Location {
	if v, ok := zoneCache.Load(name); ok {
		return v.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	v, _ := zoneCache.LoadOrStore(name, loc)
	return v.(*time.Location)
}
