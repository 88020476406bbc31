package twilio

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/switchboard-gw/switchboard/channels"
)

// source is where a content variable's value comes from: the message's
// body ("body"), its subject ("subject") or one of its metadata values
// ("metadata.code" is Metadata["code"]).
type source struct {
	field string // "body", "subject" or "metadata"
	key   string // the metadata key, for field "metadata"
}

// parseSource reads a source as written in the config.
func parseSource(s string) (source, error) {
	switch {
	case s == "body" || s == "subject":
		return source{field: s}, nil
	case strings.HasPrefix(s, "metadata.") && len(s) > len("metadata."):
		return source{field: "metadata", key: strings.TrimPrefix(s, "metadata.")}, nil
	}
	return source{}, fmt.Errorf(`must be "body", "subject" or "metadata.KEY", got %q`, s)
}

func (s source) String() string {
	if s.field == "metadata" {
		return "metadata." + s.key
	}
	return s.field
}

// text is s's value in m. A message without the metadata key, or with an
// empty value, cannot fill the variable: a code left out of an OTP is no
// OTP, and Twilio would put the template's sample value in its place.
func (s source) text(m *channels.Message) (string, error) {
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

// content is a validated content template: its SID and its variables'
// sources.
type content struct {
	sid  string
	vars map[string]source
}

func newContent(sid string, vars map[string]string) *content {
	c := &content{sid: sid, vars: make(map[string]source, len(vars))}
	for name, s := range vars {
		c.vars[name], _ = parseSource(s) // validated
	}
	return c
}

// variables is ContentVariables for m: a JSON object of variable name to
// value, or "" when the template has none. Its error says which variable
// m cannot fill and why.
func (c *content) variables(m *channels.Message) (string, error) {
	if len(c.vars) == 0 {
		return "", nil
	}
	vals := make(map[string]string, len(c.vars))
	// In name order, so the same message always fails on the same name.
	for _, name := range slices.Sorted(maps.Keys(c.vars)) {
		v, err := c.vars[name].text(m)
		if err != nil {
			return "", fmt.Errorf("content variable %q: %w", name, err)
		}
		vals[name] = v
	}
	b, err := json.Marshal(vals) // keys sorted: the same message, the same bytes
	if err != nil {
		return "", fmt.Errorf("encode content variables: %w", err)
	}
	return string(b), nil
}
