package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes and validates the config file at path, expanding
// ${VAR} references from the process environment. On any problem it returns
// nil and an Errors listing every problem found, in file order.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for a config already in memory; name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	return ParseWithEnv(name, data, os.LookupEnv)
}

// ParseWithEnv is Parse with the environment lookup injected, so callers
// (tests above all) need not touch the process environment. A nil lookup
// means os.LookupEnv.
func ParseWithEnv(name string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	d := newDecoder(name, nil)
	d.lines = map[string]int{}
	c := &Config{Path: name}
	c.ApplyDefaults()
	ok := true
	if root != nil {
		d.expandEnv(root, lookup)
		ok = d.config(root, c)
	}
	for i, p := range c.Policies {
		if p != nil {
			p.Line = d.lines[fmt.Sprintf("policies[%d]", i)]
		}
	}
	c.lines = &lineTable{d.lines}
	c.EnvDefaults = d.envDefaults
	errs := d.errs
	// When the file is not a mapping at all, "no channels" and the like
	// would only bury the one error that matters.
	if ok {
		errs = append(errs, c.validate(d.failed)...)
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *Error) int { return a.Line - b.Line })
		return nil, errs
	}
	return c, nil
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML returns the document's root node, or nil for an empty file.
func parseYAML(name string, data []byte) (root *yaml.Node, err error) {
	syntax := func(e error) error {
		ce := &Error{File: name, Msg: strings.TrimPrefix(e.Error(), "yaml: ")}
		if m := yamlLineErr.FindStringSubmatch(e.Error()); m != nil {
			ce.Line, _ = strconv.Atoi(m[1])
			ce.Msg = m[2]
		}
		return Errors{ce}
	}
	// The parser is third-party code fed operator input; a panic in it must
	// become a failed load, never a crashed gateway during a hot reload.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, Errors{{File: name, Msg: fmt.Sprintf("YAML parser failed: %v", r)}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntax(err)
	}
	// A stray "---" would otherwise silently drop everything after it.
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: name, Line: extra.Line, Msg: "more than one YAML document (a stray \"---\"?); put everything in one"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntax(err)
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

// config decodes the top-level mapping; false means the file is not one.
func (d *decoder) config(root *yaml.Node, c *Config) bool {
	if root = d.resolve(root, ""); root == nil {
		return false
	}
	if isNull(root) {
		return true
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root.Line, "", "expected a mapping of settings at the top level, got %s", kindName(root))
		return false
	}
	v := reflect.ValueOf(c).Elem()
	fields := fieldIndex(v.Type())
	known := append(keysOf(fields), "channels")
	for _, p := range d.pairs(root, "", 0) {
		key := p.key.Value
		d.record(key, p.key.Line)
		if key == "channels" {
			d.channels(p.value, c)
			continue
		}
		i, ok := fields[key]
		if !ok {
			d.unknownKey(p.key, "", known)
			continue
		}
		d.value(p.value, v.Field(i), key, 1)
	}
	return true
}

// channels decodes the name -> settings mapping, keeping file order.
func (d *decoder) channels(n *yaml.Node, c *Config) {
	if n = d.resolve(n, "channels"); n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, "channels", "expected a mapping of channel name to settings, got %s", kindName(n))
		return
	}
	for _, p := range d.pairs(n, "channels", 0) {
		path := "channels." + p.key.Value
		d.record(path, p.key.Line)
		ch := &Channel{Name: p.key.Value, File: d.file, Line: p.key.Line, expanded: d.expanded}
		ch.setDefaults()
		d.channel(p.value, ch, path)
		c.Channels = append(c.Channels, ch)
	}
}

// commonChannelKeys are the keys decoded into Channel itself; every other
// key of a channel belongs to its type and stays in Options.
var commonChannelKeys = keysOf(fieldIndex(reflect.TypeFor[Channel]()))

func (d *decoder) channel(n *yaml.Node, ch *Channel, path string) {
	ch.Options = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: ch.Line}
	if n = d.resolve(n, path); n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "expected a mapping of channel settings, got %s", kindName(n))
		return
	}
	ch.Options.Line, ch.Options.Column = n.Line, n.Column
	v := reflect.ValueOf(ch).Elem()
	fields := fieldIndex(v.Type())
	for _, p := range d.pairs(n, path, 0) {
		kp := joinKey(path, p.key.Value)
		if i, ok := fields[p.key.Value]; ok {
			d.record(kp, p.key.Line)
			d.value(p.value, v.Field(i), kp, 1)
			continue
		}
		ch.Options.Content = append(ch.Options.Content, p.key, p.value)
	}
}

// DecodeOptions decodes the channel's type-specific keys (Options) into v, a
// pointer to a struct with yaml tags. Decoding is strict (an unknown key is
// an error) and lands on top of v: set defaults in v first, and keys the
// YAML leaves out keep them. Errors are Errors located in the config file
// ("<file>:<line>: channels.<name>.<key>: ...").
//
// Supported field types: string kinds (including Secret), integers,
// float64, bool, Duration, slices, maps with string keys, nested structs,
// pointers, and types implementing yaml.Unmarshaler or
// encoding.TextUnmarshaler.
func (c *Channel) DecodeOptions(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: DecodeOptions needs a non-nil pointer to a struct, got %T", v)
	}
	if c.Options.Kind == 0 {
		return nil // built in code, not loaded: nothing to decode
	}
	d := newDecoder(c.File, c.expanded)
	// A misspelt common key ("retires") lands in Options; suggesting the
	// common keys too points at the real mistake.
	d.suggest = commonChannelKeys
	d.value(&c.Options, rv.Elem(), "channels."+c.Name, 0)
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b *Error) int { return a.Line - b.Line })
		return d.errs
	}
	return nil
}

// OptionLine returns the line of key among the channel's type-specific
// options, or the channel's own line when the key is absent: an error at
// the offending key is quicker to fix than one at the channel. key may be
// a path into nested options ("template.body_params[1]",
// "content_variables.1"): the line is that of the deepest part the YAML
// has.
func (c *Channel) OptionLine(key string) int {
	line := c.Line
	n := &c.Options
	for part := range strings.SplitSeq(key, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i > 0 && strings.HasSuffix(part, "]") {
			name = part[:i]
			if v, err := strconv.Atoi(part[i+1 : len(part)-1]); err == nil {
				idx = v
			}
		}
		if n = yamlValue(n); n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				line, next = n.Content[i].Line, n.Content[i+1]
				break
			}
		}
		if next == nil {
			return line
		}
		n = next
		if idx >= 0 {
			if n = yamlValue(n); n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

// yamlValue skips the document node and aliases above a value.
func yamlValue(n *yaml.Node) *yaml.Node {
	for range 16 { // an alias chain longer than this is the decoder's error to report
		switch {
		case n.Kind == yaml.DocumentNode && len(n.Content) > 0:
			n = n.Content[0]
		case n.Kind == yaml.AliasNode && n.Alias != nil:
			n = n.Alias
		default:
			return n
		}
	}
	return n
}
