package channels

import (
	"fmt"
	"strings"
)

// ParamSource is where a provider template's parameter gets its text
// from a message: its body ("body"), its subject ("subject") or one of its
// metadata values ("metadata.code" is Metadata["code"]). WhatsApp
// templates (whatsapp-cloud's template:, twilio-whatsapp's
// content_variables) name their parameters' sources this way in the
// config.
type ParamSource struct {
	field string // "body", "subject" or "metadata"
	key   string // the metadata key, for field "metadata"
}

// ParseParamSource reads a source as written in the config.
func ParseParamSource(s string) (ParamSource, error) {
	switch {
	case s == "body" || s == "subject":
		return ParamSource{field: s}, nil
	case strings.HasPrefix(s, "metadata.") && len(s) > len("metadata."):
		return ParamSource{field: "metadata", key: strings.TrimPrefix(s, "metadata.")}, nil
	}
	return ParamSource{}, fmt.Errorf(`must be "body", "subject" or "metadata.KEY", got %q`, s)
}

func (s ParamSource) String() string {
	if s.field == "metadata" {
		return "metadata." + s.key
	}
	return s.field
}

// Text is the source's value in m. A message without the metadata key, or
// with an empty value, cannot fill the parameter: providers refuse empty
// parameters (or put the template's sample value in their place), and a
// code left out of an OTP is no OTP. The caller classifies the error
// (permanent: the same message fails the same way on a retry).
func (s ParamSource) Text(m *Message) (string, error) {
	var v string
	switch s.field {
	case "body":
		v = m.Body
	case "subject":
		v = m.Subject
	default:
		var ok bool
		if v, ok = m.Metadata[s.key]; !ok {
			return "", fmt.Errorf("the message has no metadata key %q", s.key)
		}
	}
	if v == "" {
		return "", fmt.Errorf("%s is empty", s)
	}
	return v, nil
}
