package config

import (
	"fmt"
	"net"
	"strings"
)

// EnvDefault is a ${VAR:-default} reference whose default was used because
// VAR was unset or empty.
type EnvDefault struct {
	Key  string // the key path it filled, such as "auth.keys[2].key"
	Var  string // the environment variable, such as "SB_ADMIN_KEY"
	Line int
}

// publishedKeys are the API keys config.example.yaml publishes for
// development. Anyone who has read the repository knows them, so they are
// recognised by value, wherever they come from.
var publishedKeys = map[string]bool{
	"dev-send-key-0123456789":  true,
	"dev-read-key-0123456789":  true,
	"dev-admin-key-0123456789": true,
}

// IsPublishedKey reports whether key is one of the example config's
// published development keys.
func IsPublishedKey(key Secret) bool { return publishedKeys[key.Reveal()] }

// KeyEnvDefault is an API key whose value came from a ${VAR:-default}
// default.
type KeyEnvDefault struct {
	Index int    // in auth.keys
	Name  string // the key's name
	Var   string
}

// KeyEnvDefaults lists the API keys (auth.keys[].key and callback_secret)
// whose value a ${VAR:-default} default supplied: the operator may believe
// VAR set it.
func (c *Config) KeyEnvDefaults() []KeyEnvDefault {
	var out []KeyEnvDefault
	for i, k := range c.Auth.Keys {
		for _, field := range []string{"key", "callback_secret"} {
			if d, ok := c.envDefault(fmt.Sprintf("auth.keys[%d].%s", i, field)); ok {
				out = append(out, KeyEnvDefault{Index: i, Name: k.Name, Var: d.Var})
			}
		}
	}
	return out
}

func (c *Config) envDefault(key string) (EnvDefault, bool) {
	for _, d := range c.EnvDefaults {
		if d.Key == key {
			return d, true
		}
	}
	return EnvDefault{}, false
}

// IsLoopbackListen reports whether a listen address ("127.0.0.1:8080",
// "[::1]:8080", "localhost:8080") only accepts connections from this
// machine. An empty host (":8080"), an unspecified address (0.0.0.0, ::),
// any other IP address or host name is not loopback.
func IsLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckPublishedKeys refuses a config that uses a published development
// key on a listener other machines can reach: it returns Errors naming
// each such key (by its auth.keys name, and the variable that would have
// set it when a ${VAR:-default} default supplied it), or nil.
func (c *Config) CheckPublishedKeys() error { return c.CheckPublishedKeysOn(c.Server.Listen) }

// CheckPublishedKeysOn is CheckPublishedKeys for a gateway listening on
// addr (the address it bound, which may differ from server.listen).
func (c *Config) CheckPublishedKeysOn(addr string) error {
	if IsLoopbackListen(addr) {
		return nil
	}
	var errs Errors
	for i, k := range c.Auth.Keys {
		if !IsPublishedKey(k.Key) {
			continue
		}
		key := fmt.Sprintf("auth.keys[%d].key", i)
		how := "Set it to a random value"
		if d, ok := c.envDefault(key); ok {
			how = fmt.Sprintf("The ${%s:-...} default supplied it because %s is unset or empty: set %s to a random value", d.Var, d.Var, d.Var)
		}
		errs = append(errs, &Error{File: c.Path, Line: c.Line(key), Key: key, Msg: fmt.Sprintf(
			"API key %q is a published development key from config.example.yaml, and the gateway listens on %q, which accepts connections from other machines: "+
				"anyone who has read the docs can use it. %s (openssl rand -hex 32), listen on 127.0.0.1, or run `switchboard serve --dev` for a demo",
			k.Name, addr, how)})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
