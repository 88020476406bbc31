package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Channel returns the channel called name, or nil.
func (c *Config) Channel(name string) *Channel {
	for _, ch := range c.Channels {
		if ch.Name == name {
			return ch
		}
	}
	return nil
}

// Policy returns the policy called name, or nil.
func (c *Config) Policy(name string) *Policy {
	for _, p := range c.Policies {
		if p != nil && p.Name == name {
			return p
		}
	}
	return nil
}

// Summary describes c in one line for startup and reload logs:
// "3 channels (whatsapp, sms, email), 2 policies (otp, default), 3 API keys".
func (c *Config) Summary() string {
	chans := make([]string, len(c.Channels))
	for i, ch := range c.Channels {
		chans[i] = ch.Name
	}
	var pols []string
	for _, p := range c.Policies {
		if p != nil {
			pols = append(pols, p.Name)
		}
	}
	return fmt.Sprintf("%s (%s), %s (%s), %s",
		plural(len(chans), "channel", "channels"), strings.Join(chans, ", "),
		plural(len(pols), "policy", "policies"), strings.Join(pols, ", "),
		plural(len(c.Auth.Keys), "API key", "API keys"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Unwrap lets errors.As find the first *Error in an Errors.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// String prints the duration as it is written in YAML ("30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes "30s" rather than nanoseconds in JSON and YAML dumps.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// optionKeys lists the keys in Options, for printing a channel without the
// values: type-specific keys (auth_token, password) are still plain strings
// there, before the channel type decodes them into Secrets.
func (c *Channel) optionKeys() []string {
	var keys []string
	for i := 0; i+1 < len(c.Options.Content); i += 2 {
		keys = append(keys, c.Options.Content[i].Value)
	}
	return keys
}

// String prints the channel without its option values (see optionKeys).
func (c Channel) String() string {
	return fmt.Sprintf("{Name:%s Type:%s Kind:%s SendTimeout:%s Retry:%+v Breaker:%+v Probe:%+v Options:%v File:%s Line:%d}",
		c.Name, c.Type, c.Kind, c.SendTimeout, c.Retry, c.Breaker, c.Probe, c.optionKeys(), c.File, c.Line)
}

// GoString keeps %#v from dumping Options' values.
func (c Channel) GoString() string { return "config.Channel" + c.String() }

// MarshalJSON lists Options by key only, for the same reason as String.
func (c Channel) MarshalJSON() ([]byte, error) {
	type plain Channel
	return json.Marshal(struct {
		plain
		Options []string `json:"Options,omitempty"`
	}{plain(c), c.optionKeys()})
}
