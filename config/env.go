package config

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Expansion runs on the parsed node tree rather than on the file's text: a
// secret holding ": ", "#" or a newline cannot change the YAML's structure,
// and line numbers stay those of the file ops edit.

// expandEnv rewrites ${VAR} references in every scalar value under n,
// recording in d.expanded each rewritten node's text before expansion and
// in d.envFailed the nodes it could not expand. Keys are left alone: a key
// that depends on the environment is a schema nobody can check.
func (d *decoder) expandEnv(n *yaml.Node, lookup func(string) (string, bool)) {
	raw := map[*yaml.Node]string{}
	d.envFailed = map[*yaml.Node]bool{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := path
				if k.Kind == yaml.ScalarNode && k.Tag != "!!merge" {
					p = joinKey(path, k.Value)
				}
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.ScalarNode:
			// Aliases are not followed: their anchor is expanded once,
			// where it is defined.
			if !strings.Contains(n.Value, "$") {
				return
			}
			out, err := expandTracked(n.Value, lookup, func(name string) {
				d.envDefaults = append(d.envDefaults, EnvDefault{Key: path, Var: name, Line: n.Line})
			})
			if err != nil {
				d.envFailed[n] = true
				d.fail(n.Line, path, "%v", err)
				return
			}
			if out != n.Value {
				raw[n] = n.Value
				n.Value = out
			}
		}
	}
	walk(n, "")
	d.expanded = raw
}

var errUnterminated = errors.New(`unterminated "${": close it with "}", or write "$$" for a literal "$"`)

// expand replaces ${VAR}, ${VAR:-default} and $$ in s. A "$" followed by
// anything else is kept as is, so prices and regexps need no escaping.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	return expandTracked(s, lookup, nil)
}

// expandTracked is expand, calling defaulted (when not nil) with the name
// of each variable whose ${VAR:-default} default was used.
func expandTracked(s string, lookup func(string) (string, bool), defaulted func(name string)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", errUnterminated
			}
			ref := s[i+2 : i+2+end]
			name, def, hasDef := strings.Cut(ref, ":-")
			if !validEnvName(name) {
				return "", fmt.Errorf("bad variable reference %q: write ${NAME} or ${NAME:-default}", "${"+ref+"}")
			}
			val, ok := lookup(name)
			switch {
			case hasDef && val == "":
				val = def
				if defaulted != nil {
					defaulted(name)
				}
			case !ok:
				return "", fmt.Errorf("environment variable %s is not set (set it, or give a default: ${%s:-default})", name, name)
			}
			b.WriteString(val)
			i += 2 + end + 1
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
