package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
)

// TestQuietHoursValidation: quiet_hours errors name the key.
func TestQuietHoursValidation(t *testing.T) {
	t.Parallel()
	const head = `
auth:
  keys: [{name: shop, key: "0123456789abcdef", role: send}]
channels:
  sms: {type: sim, kind: sms}
policies:
  - name: news
    route: [sms]
    quiet_hours: `
	tests := []struct {
		name, quiet, want string
	}{
		{"recipient", `{from: "21:00", to: "08:00", timezone: recipient}`, ""},
		{"iana zone", `{from: "21:00", to: "08:00", timezone: Europe/Berlin}`, ""},
		{"fallback", `{from: "21:00", to: "08:00", timezone: recipient, fallback_timezone: America/New_York}`, ""},
		{"bad from", `{from: "9pm", to: "08:00", timezone: recipient}`, `policies[0].quiet_hours.from: "9pm" is not a time of day`},
		{"hour out of range", `{from: "21:00", to: "24:00", timezone: recipient}`, `policies[0].quiet_hours.to: "24:00" is not a time of day`},
		{"empty window", `{from: "08:00", to: "08:00", timezone: recipient}`, `policies[0].quiet_hours.to: the window is empty`},
		{"missing zone", `{from: "21:00", to: "08:00"}`, `policies[0].quiet_hours.timezone: missing`},
		{"unknown zone", `{from: "21:00", to: "08:00", timezone: Mars/Olympus}`, `policies[0].quiet_hours.timezone: "Mars/Olympus" is not an IANA time zone`},
		{"Local is not a zone", `{from: "21:00", to: "08:00", timezone: Local}`, `policies[0].quiet_hours.timezone: "Local" is not an IANA time zone`},
		{"fallback without recipient", `{from: "21:00", to: "08:00", timezone: UTC, fallback_timezone: UTC}`, `policies[0].quiet_hours.fallback_timezone: only used with timezone: recipient`},
		{"unknown key", `{from: "21:00", to: "08:00", timezone: UTC, zone: UTC}`, `quiet_hours`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Parse("t.yaml", []byte(head+tc.quiet+"\n"))
			if tc.want == "" {
				require.NoError(t, err)
				require.NotNil(t, cfg.Policies[0].QuietHours)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestQuietHoursDiff: a reload that adds or changes quiet hours says so.
func TestQuietHoursDiff(t *testing.T) {
	t.Parallel()
	const cfg = `
auth:
  keys: [{name: shop, key: "0123456789abcdef", role: send}]
channels:
  sms: {type: sim, kind: sms}
policies:
  - name: news
    route: [sms]
`
	parse := func(extra string) *config.Config {
		c, err := config.Parse("t.yaml", []byte(cfg+extra))
		require.NoError(t, err)
		return c
	}
	d := config.Compare(parse(""), parse(`    quiet_hours: {from: "21:00", to: "08:00", timezone: recipient}`+"\n"))
	require.Contains(t, d.String(), "quiet_hours: none → 21:00-08:00 recipient")
}
