package twilio

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/switchboard-gw/switchboard/channels"
)

// content is a validated content template: its SID and its variables'
// sources.
type content struct {
	sid  string
	vars map[string]channels.ParamSource
}

func newContent(sid string, vars map[string]string) *content {
	c := &content{sid: sid, vars: make(map[string]channels.ParamSource, len(vars))}
	for name, s := range vars {
		c.vars[name], _ = channels.ParseParamSource(s) // validated
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
		v, err := c.vars[name].Text(m)
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
