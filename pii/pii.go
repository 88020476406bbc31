// Package pii masks personal data (phone numbers, email addresses, chat ids)
// before it reaches a log line. Logs are copied to places with weaker access
// control than the message store; a masked address still lets on-call
// engineers tell two recipients apart.
package pii

import (
	"log/slog"
	"strings"
	"unicode/utf8"
)

// Phone keeps the country-code side and the last two digits:
// "+15551234567" -> "+155*******67".
func Phone(s string) string {
	n := len(s)
	if n <= 6 {
		return strings.Repeat("*", n)
	}
	return s[:4] + strings.Repeat("*", n-6) + s[n-2:]
}

// Email keeps the first character of the local part and the domain:
// "ana@example.com" -> "a**@example.com".
func Email(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return mask(s)
	}
	_, size := utf8.DecodeRuneInString(s)
	return s[:size] + strings.Repeat("*", max(at-size, 1)) + s[at:]
}

// ID masks an opaque identifier (a Telegram chat id) but its last two
// characters.
func ID(s string) string { return mask(s) }

func mask(s string) string {
	if len(s) <= 4 {
		return strings.Repeat("*", len(s))
	}
	return strings.Repeat("*", len(s)-2) + s[len(s)-2:]
}

// Address is a recipient address of a known kind that logs itself masked.
// Use it as a slog attribute value: slog.Any("to", pii.Address{Kind: "sms", Value: to}).
type Address struct {
	Kind  string // "sms", "whatsapp", "email", "telegram"
	Value string
}

// LogValue implements slog.LogValuer.
func (a Address) LogValue() slog.Value { return slog.StringValue(a.String()) }

// String is the masked form, so even fmt never prints the raw address.
func (a Address) String() string {
	switch a.Kind {
	case "sms", "whatsapp":
		return Phone(a.Value)
	case "email":
		return Email(a.Value)
	}
	return ID(a.Value)
}

// GoString keeps %#v masked too.
func (a Address) GoString() string { return a.String() }
