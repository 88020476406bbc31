package twilio

import (
	"fmt"
	"unicode/utf16"
)

// Encodings an SMS body is sent in.
const (
	GSM7 = "GSM-7"
	UCS2 = "UCS-2"
)

// Segment sizes. A body that fits one segment uses all of it; a longer one
// is split into parts that each give up room to the concatenation header
// (6 bytes: 7 septets in GSM-7, 3 code units in UCS-2).
const (
	gsmSingle  = 160
	gsmPart    = 153
	ucs2Single = 70
	ucs2Part   = 67
)

// gsmBasic is the GSM 03.38 default alphabet (one septet each), in table
// order; 0x1B, the escape to the extension table, is left out.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension is the GSM 03.38 extension table: each character costs two
// septets (escape plus code).
const gsmExtension = "\f^{}\\[~]|€"

var gsmCost = func() map[rune]int {
	m := make(map[rune]int, 140)
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExtension {
		m[r] = 2
	}
	return m
}()

// Segments is how a carrier would split a body into SMS parts. Twilio bills
// per segment, so the count is stored on the attempt.
type Segments struct {
	Count    int
	Encoding string // GSM7 or UCS2
	// Units is the body's length in the encoding's units: septets for
	// GSM-7 (an extension character counts two), UTF-16 code units for
	// UCS-2 (a character outside the BMP, such as most emoji, counts two).
	Units int
}

// String reads "1 segment, GSM-7" or "3 segments, UCS-2".
func (s Segments) String() string {
	if s.Count == 1 {
		return "1 segment, " + s.Encoding
	}
	return fmt.Sprintf("%d segments, %s", s.Count, s.Encoding)
}

// CountSegments computes the SMS segments of body as a carrier counts them:
// GSM-7 when every character is in the GSM 03.38 default or extension
// table, else UCS-2. A character is never split across two parts (an
// escape sequence or a surrogate pair that does not fit moves whole to the
// next part), so long bodies can need one part more than units/153.
// Twilio's "smart encoding" substitutions are not modelled: a curly quote
// makes the body UCS-2 here, as it does with smart encoding off.
func CountSegments(body string) Segments {
	costs := make([]int, 0, len(body))
	gsm := true
	for _, r := range body {
		c, ok := gsmCost[r]
		if !ok {
			gsm = false
			break
		}
		costs = append(costs, c)
	}
	single, part, enc := gsmSingle, gsmPart, GSM7
	if !gsm {
		single, part, enc = ucs2Single, ucs2Part, UCS2
		costs = costs[:0]
		for _, r := range body {
			costs = append(costs, utf16.RuneLen(r))
		}
	}
	units := 0
	for _, c := range costs {
		units += c
	}
	if units <= single {
		return Segments{Count: 1, Encoding: enc, Units: units}
	}
	count, used := 1, 0
	for _, c := range costs {
		if used+c > part {
			count++
			used = 0
		}
		used += c
	}
	return Segments{Count: count, Encoding: enc, Units: units}
}
