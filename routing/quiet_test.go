package routing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/admission"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// TestQuietEnd: the window math in one zone, across midnight and across
// both DST changes (the window ends at its wall-clock time, whatever the
// UTC offset did meanwhile).
func TestQuietEnd(t *testing.T) {
	t.Parallel()
	berlin, ny := mustLoc(t, "Europe/Berlin"), mustLoc(t, "America/New_York")
	clock := func(s string) int { m, ok := config.Clock(s); require.True(t, ok, s); return m }
	tests := []struct {
		name     string
		from, to string
		loc      *time.Location
		at, want time.Time
	}{
		{"evening, across midnight", "21:00", "08:00", berlin,
			time.Date(2026, 6, 10, 22, 0, 0, 0, berlin), time.Date(2026, 6, 11, 8, 0, 0, 0, berlin)},
		{"at the start, inclusive", "21:00", "08:00", berlin,
			time.Date(2026, 6, 10, 21, 0, 0, 0, berlin), time.Date(2026, 6, 11, 8, 0, 0, 0, berlin)},
		{"after midnight", "21:00", "08:00", berlin,
			time.Date(2026, 6, 11, 7, 59, 30, 0, berlin), time.Date(2026, 6, 11, 8, 0, 0, 0, berlin)},
		{"at the end, exclusive", "21:00", "08:00", berlin,
			time.Date(2026, 6, 11, 8, 0, 0, 0, berlin), time.Date(2026, 6, 11, 8, 0, 0, 0, berlin)},
		{"daytime is outside", "21:00", "08:00", berlin,
			time.Date(2026, 6, 11, 12, 0, 0, 0, berlin), time.Date(2026, 6, 11, 12, 0, 0, 0, berlin)},
		{"a window within one day", "12:00", "14:00", berlin,
			time.Date(2026, 6, 11, 13, 15, 0, 0, berlin), time.Date(2026, 6, 11, 14, 0, 0, 0, berlin)},
		{"before a same-day window", "12:00", "14:00", berlin,
			time.Date(2026, 6, 11, 11, 59, 0, 0, berlin), time.Date(2026, 6, 11, 11, 59, 0, 0, berlin)},
		{"spring forward inside the window", "21:00", "08:00", berlin,
			time.Date(2026, 3, 28, 22, 0, 0, 0, berlin), time.Date(2026, 3, 29, 6, 0, 0, 0, time.UTC)},
		{"fall back inside the window", "21:00", "08:00", berlin,
			time.Date(2026, 10, 24, 22, 0, 0, 0, berlin), time.Date(2026, 10, 25, 7, 0, 0, 0, time.UTC)},
		{"the window ends in the DST gap", "23:00", "02:30", ny,
			time.Date(2026, 3, 8, 1, 0, 0, 0, ny), time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)}, // 03:00 EDT
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := QuietEnd(clock(tc.from), clock(tc.to), []*time.Location{tc.loc}, tc.at)
			require.True(t, tc.want.Equal(got), "want %s, got %s", tc.want.UTC(), got.UTC())
		})
	}
}

// TestQuietUntilRecipient: timezone recipient takes the zones of the
// number. A +1 number the data cannot place (the +1555 test range) spans
// every North American zone: it waits from 21:00 on the east coast until
// 08:00 in Hawaii, so nobody in its range gets it inside the window.
func TestQuietUntilRecipient(t *testing.T) {
	t.Parallel()
	r, err := NewRouter(nil, nil, nil)
	require.NoError(t, err)
	recipient := &config.Policy{Name: "news", QuietHours: &config.QuietHours{From: "21:00", To: "08:00", Timezone: "recipient"}}
	fallback := &config.Policy{Name: "news", QuietHours: &config.QuietHours{From: "21:00", To: "08:00", Timezone: "recipient", FallbackTimezone: "Asia/Tokyo"}}
	utc := func(d, h, m int) time.Time { return time.Date(2026, 6, d, h, m, 0, 0, time.UTC) }
	tests := []struct {
		name     string
		pol      *config.Policy
		to       store.Recipient
		at, want time.Time
	}{
		// New York is UTC-4 in June: 21:00-08:00 EDT is 01:00-12:00 UTC.
		{"one zone, inside", recipient, store.Recipient{Phone: "+12125551234"}, utc(10, 2, 0), utc(10, 12, 0)},
		{"one zone, outside", recipient, store.Recipient{Phone: "+12125551234"}, utc(10, 13, 0), utc(10, 13, 0)},
		{"whatsapp number when no phone", recipient, store.Recipient{WhatsApp: "+12125551234"}, utc(10, 2, 0), utc(10, 12, 0)},
		// 21:00 EDT; Los Angeles is at 18:00, but New York is inside. The
		// range also holds Honolulu (UTC-10), Pago Pago (UTC-11) and Guam
		// (UTC+10): the window is over everywhere at 08:00 in Guam.
		{"many zones: the latest local time starts it", recipient, store.Recipient{Phone: "+15551234567"}, utc(10, 1, 0), utc(10, 22, 0)},
		// 09:00 EDT is 03:00 in Honolulu and 05:00 tomorrow in Guam.
		{"many zones: the earliest local time ends it", recipient, store.Recipient{Phone: "+15551234567"}, utc(10, 13, 0), utc(10, 22, 0)},
		{"many zones: outside everywhere", recipient, store.Recipient{Phone: "+15551234567"}, utc(10, 22, 30), utc(10, 22, 30)},
		// No phone number: UTC, or the policy's fallback_timezone.
		{"email only: UTC", recipient, store.Recipient{Email: "ana@example.com"}, utc(10, 22, 0), utc(11, 8, 0)},
		{"email only: fallback zone", fallback, store.Recipient{Email: "ana@example.com"}, utc(10, 22, 0), utc(10, 23, 0)}, // 07:00 in Tokyo
		{"no zone data: fallback zone", fallback, store.Recipient{Phone: "+80012345678"}, utc(10, 13, 0), utc(10, 23, 0)},
		{"fixed zone", &config.Policy{QuietHours: &config.QuietHours{From: "21:00", To: "08:00", Timezone: "Europe/Berlin"}},
			store.Recipient{Phone: "+12125551234"}, utc(10, 20, 0), utc(11, 6, 0)},
		{"no quiet hours", &config.Policy{}, store.Recipient{Phone: "+12125551234"}, utc(10, 2, 0), utc(10, 2, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := r.QuietUntil(tc.pol, tc.to, tc.at)
			require.True(t, tc.want.Equal(got), "want %s, got %s", tc.want, got.UTC())
			if !got.Equal(tc.at) {
				require.Equal(t, reason.QuietHours, r.QuietReason(tc.pol, tc.to, got), "a due time at the window's end reads as quiet hours")
			}
		})
	}
	zones := admission.Timezones("+15551234567")
	require.Contains(t, zones, mustLoc(t, "Pacific/Guam"), "an unplaced +1 number spans every zone of +1")
	require.Contains(t, zones, mustLoc(t, "America/St_Johns"))
}
