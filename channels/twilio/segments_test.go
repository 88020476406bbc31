package twilio_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels/twilio"
)

func TestCountSegments(t *testing.T) {
	t.Parallel()
	r := strings.Repeat
	tests := []struct {
		name  string
		body  string
		count int
		enc   string
		units int
		info  string
	}{
		{name: "empty", body: "", count: 1, enc: twilio.GSM7, units: 0},
		{name: "ascii", body: "Your code is 123456", count: 1, enc: twilio.GSM7, units: 19, info: "1 segment, GSM-7"},
		{name: "accents outside GSM switch to UCS-2", body: "Ça coûte 5€? Ünïcödé ΔΦΓ", count: 1, enc: twilio.UCS2, units: 24}, // û, ï, ö are not GSM
		{name: "GSM basic only", body: "Ça é è ù ì ò Å Ø ΔΦΓΛΩΠΨΣΘΞ ¡¿ §", count: 1, enc: twilio.GSM7, units: 32},
		{name: "160 GSM fit one segment", body: r("a", 160), count: 1, enc: twilio.GSM7, units: 160},
		{name: "161 GSM need two", body: r("a", 161), count: 2, enc: twilio.GSM7, units: 161, info: "2 segments, GSM-7"},
		{name: "306 GSM fill two parts", body: r("a", 306), count: 2, enc: twilio.GSM7, units: 306},
		{name: "307 GSM need three", body: r("a", 307), count: 3, enc: twilio.GSM7, units: 307},
		{name: "extension characters count two", body: "{}[]~|^\\€\f", count: 1, enc: twilio.GSM7, units: 20},
		{name: "80 euro signs fill one segment", body: r("€", 80), count: 1, enc: twilio.GSM7, units: 160},
		{name: "159 plus a euro sign spills", body: r("a", 159) + "€", count: 2, enc: twilio.GSM7, units: 161},
		{name: "escape pair is not split across parts", body: r("a", 152) + "€" + r("a", 152), count: 3, enc: twilio.GSM7, units: 306},
		{name: "1600 GSM is 11 parts", body: r("a", 1600), count: 11, enc: twilio.GSM7, units: 1600},
		{name: "lowercase ç is not GSM", body: "ç", count: 1, enc: twilio.UCS2, units: 1},
		{name: "curly quote forces UCS-2", body: "it’s", count: 1, enc: twilio.UCS2, units: 4},
		{name: "70 UCS-2 fit one segment", body: r("日", 70), count: 1, enc: twilio.UCS2, units: 70},
		{name: "71 UCS-2 need two", body: r("日", 71), count: 2, enc: twilio.UCS2, units: 71},
		{name: "134 UCS-2 fill two parts", body: r("ж", 134), count: 2, enc: twilio.UCS2, units: 134},
		{name: "135 UCS-2 need three", body: r("ж", 135), count: 3, enc: twilio.UCS2, units: 135, info: "3 segments, UCS-2"},
		{name: "emoji are two UTF-16 units", body: r("😀", 35), count: 1, enc: twilio.UCS2, units: 70},
		{name: "36 emoji need two", body: r("😀", 36), count: 2, enc: twilio.UCS2, units: 72},
		{name: "surrogate pair is not split across parts", body: r("ж", 66) + "😀" + r("ж", 66), count: 3, enc: twilio.UCS2, units: 134},
		{name: "one non-GSM character switches the whole body", body: r("a", 100) + "😀", count: 2, enc: twilio.UCS2, units: 102},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := twilio.CountSegments(tt.body)
			require.Equal(t, twilio.Segments{Count: tt.count, Encoding: tt.enc, Units: tt.units}, got)
			if tt.info != "" {
				require.Equal(t, tt.info, got.String())
			}
		})
	}
}
