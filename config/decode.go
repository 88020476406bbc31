package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// The decoder walks yaml.Node trees itself instead of using yaml.v3's
// Decode with KnownFields: node decoding there reports unknown keys without
// a line, stops at the first problem and cannot tell an explicit zero from a
// missing key. Walking the tree lets every error carry file, line and key
// path, lets one load report every problem, and lets values land on top of
// defaults set beforehand.

const (
	// maxDepth bounds recursion: the config types are shallow, so anything
	// deeper is a cyclic alias ("&a [*a]") or a merge-key loop.
	maxDepth = 64
	// aliasBudget bounds alias and merge-key expansion, so a "billion
	// laughs" document costs milliseconds instead of memory and minutes.
	aliasBudget = 10000
)

type decoder struct {
	file string
	errs Errors
	// lines maps a key path to the line validation should point at; nil
	// when nobody needs it (DecodeOptions).
	lines map[string]int
	// expanded holds, for scalars rewritten by ${VAR} expansion, the text
	// before expansion: errors quote that, never an environment value.
	expanded map[*yaml.Node]string
	// envFailed holds scalars whose ${VAR} expansion failed; that error
	// is enough, so they are not decoded.
	envFailed map[*yaml.Node]bool
	// envDefaults are the ${VAR:-default} defaults used (Config.EnvDefaults).
	envDefaults []EnvDefault
	// failed holds key paths whose value could not be decoded; validation
	// stays quiet about them and what is under them, since the field only
	// holds its default.
	failed  map[string]bool
	budget  int
	overran bool
	// suggest adds candidates for did-you-mean beyond the target's own keys.
	suggest []string
}

func newDecoder(file string, expanded map[*yaml.Node]string) *decoder {
	return &decoder{file: file, expanded: expanded, failed: map[string]bool{}, budget: aliasBudget}
}

func (d *decoder) errorf(line int, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// fail reports a value that could not be decoded at key.
func (d *decoder) fail(line int, key, format string, args ...any) {
	d.failed[key] = true
	d.errorf(line, key, format, args...)
}

func (d *decoder) record(path string, line int) {
	if d.lines != nil {
		if _, ok := d.lines[path]; !ok {
			d.lines[path] = line
		}
	}
}

// resolve follows aliases; nil means the expansion budget ran out.
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		if d.budget <= 0 {
			if !d.overran {
				d.overran = true
				d.errorf(n.Line, path, "too many alias expansions (more than %d)", aliasBudget)
			}
			return nil
		}
		d.budget--
		n = n.Alias
	}
	return n
}

type pair struct{ key, value *yaml.Node }

// pairs returns a mapping's entries with merge keys ("<<: *defaults")
// flattened in; explicit keys win over merged ones, as YAML 1.1 specifies,
// so shared retry or breaker blocks can be overridden per channel.
func (d *decoder) pairs(m *yaml.Node, path string, depth int) []pair {
	if depth > maxDepth {
		d.errorf(m.Line, path, "nested too deeply")
		return nil
	}
	var out []pair
	var merges []*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := d.resolve(m.Content[i], path)
		if k == nil {
			continue
		}
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, m.Content[i+1])
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, path, "keys must be plain strings, got %s", kindName(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, path, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{k, m.Content[i+1]})
	}
	for _, src := range merges {
		src = d.resolve(src, path)
		if src == nil {
			continue
		}
		var maps []*yaml.Node
		switch src.Kind {
		case yaml.MappingNode:
			maps = []*yaml.Node{src}
		case yaml.SequenceNode:
			for _, e := range src.Content {
				if e = d.resolve(e, path); e != nil {
					maps = append(maps, e)
				}
			}
		}
		for _, mm := range maps {
			if mm.Kind != yaml.MappingNode {
				d.errorf(mm.Line, path, "<< merges a mapping, got %s", kindName(mm))
				continue
			}
			for _, p := range d.pairs(mm, path, depth+1) {
				if _, ok := seen[p.key.Value]; !ok {
					seen[p.key.Value] = p.key.Line
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// fieldIndex maps yaml key names to struct field indexes, cached per type.
var fieldCache sync.Map // reflect.Type -> map[string]int

func fieldIndex(t reflect.Type) map[string]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	fieldCache.Store(t, m)
	return m
}

func keysOf(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

var (
	durationType = reflect.TypeFor[Duration]()
	nodeType     = reflect.TypeFor[yaml.Node]()
)

// defaulter is implemented by types whose zero fields have defaults; the
// decoder calls it on values it allocates (policies) before decoding onto
// them, so keys left out keep their defaults and explicit zeros stay zero.
type defaulter interface{ setDefaults() }

// value decodes n onto v. Keys absent from n leave v untouched.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n = d.resolve(n, path); n == nil {
		return
	}
	if depth > maxDepth {
		d.fail(n.Line, path, "nested too deeply")
		return
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if isNull(n) || d.envFailed[n] {
		return
	}
	t := v.Type()
	switch t {
	case durationType:
		d.duration(n, v, path)
		return
	case nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	}
	if v.CanAddr() && t.Kind() != reflect.Pointer {
		switch u := v.Addr().Interface().(type) {
		case yaml.Unmarshaler:
			if err := u.UnmarshalYAML(n); err != nil {
				d.fail(n.Line, path, "%s", d.foreignErr(n, err))
			}
			return
		case encoding.TextUnmarshaler:
			if n.Kind != yaml.ScalarNode {
				d.fail(n.Line, path, "expected a string, got %s", kindName(n))
			} else if err := u.UnmarshalText([]byte(n.Value)); err != nil {
				d.fail(n.Line, path, "bad value %s: %s", d.show(n), d.foreignErr(n, err))
			}
			return
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
			if df, ok := v.Interface().(defaulter); ok {
				df.setDefaults()
			}
		}
		d.value(n, v.Elem(), path, depth+1)
	case reflect.Struct:
		d.structValue(n, v, path, depth)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n.Line, path, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			ep := fmt.Sprintf("%s[%d]", path, i)
			d.record(ep, e.Line)
			el := s.Index(i)
			// Pointer elements are allocated even for a null entry ("- ~"),
			// so nobody downstream meets a nil policy.
			if el.Kind() == reflect.Pointer {
				el.Set(reflect.New(el.Type().Elem()))
				el = el.Elem()
			}
			if df, ok := el.Addr().Interface().(defaulter); ok {
				df.setDefaults()
			}
			d.value(e, el, ep, depth+1)
		}
		v.Set(s)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			d.fail(n.Line, path, "internal: unsupported map key type %s", t.Key())
			return
		}
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, path, "expected a mapping, got %s", kindName(n))
			return
		}
		m := reflect.MakeMap(t)
		for _, p := range d.pairs(n, path, depth) {
			kp := joinKey(path, p.key.Value)
			d.record(kp, p.key.Line)
			ev := reflect.New(t.Elem()).Elem()
			d.value(p.value, ev, kp, depth+1)
			m.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(t.Key()), ev)
		}
		v.Set(m)
	case reflect.String:
		if d.scalar(n, path, "a string") {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		if !d.scalar(n, path, "true or false") {
			return
		}
		switch strings.ToLower(n.Value) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.fail(n.Line, path, "expected true or false, got %s", d.show(n))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !d.scalar(n, path, "an integer") {
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, t.Bits())
		if err != nil {
			d.fail(n.Line, path, "expected an integer, got %s", d.show(n))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !d.scalar(n, path, "a non-negative integer") {
			return
		}
		u, err := strconv.ParseUint(n.Value, 0, t.Bits())
		if err != nil {
			d.fail(n.Line, path, "expected a non-negative integer, got %s", d.show(n))
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		if !d.scalar(n, path, "a number") {
			return
		}
		f, err := strconv.ParseFloat(n.Value, t.Bits())
		if err != nil {
			d.fail(n.Line, path, "expected a number, got %s", d.show(n))
			return
		}
		v.SetFloat(f)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(n.Line, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.fail(n.Line, path, "internal: unsupported field type %s", t)
	}
}

func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, "expected %s, got %s", want, kindName(n))
		return false
	}
	return true
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if !d.scalar(n, path, "a duration") {
		return
	}
	dur, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		d.fail(n.Line, path, "bad duration %s: use a Go duration such as 30s, 1h30m or 500ms", d.show(n))
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) structValue(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "expected a mapping, got %s", kindName(n))
		return
	}
	fields := fieldIndex(v.Type())
	for _, p := range d.pairs(n, path, depth) {
		kp := joinKey(path, p.key.Value)
		i, ok := fields[p.key.Value]
		if !ok {
			d.unknownKey(p.key, path, keysOf(fields))
			continue
		}
		d.record(kp, p.key.Line)
		d.value(p.value, v.Field(i), kp, depth+1)
	}
}

func (d *decoder) unknownKey(k *yaml.Node, path string, known []string) {
	msg := fmt.Sprintf("unknown key %q", k.Value)
	if s := suggest(k.Value, append(known, d.suggest...)); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: k.Line, Key: path, Msg: msg})
}

// show quotes a scalar for an error message. A value that came from the
// environment may be a secret put in the wrong place, so it is shown by the
// reference that produced it, never by its value.
func (d *decoder) show(n *yaml.Node) string {
	if raw, ok := d.expanded[n]; ok {
		return fmt.Sprintf("%q (from the environment)", raw)
	}
	return strconv.Quote(n.Value)
}

// foreignErr is the text of an error from code outside this package, which
// may quote the value it rejected: for a value from the environment only a
// generic message is safe.
func (d *decoder) foreignErr(n *yaml.Node, err error) string {
	if raw, ok := d.expanded[n]; ok {
		return fmt.Sprintf("invalid value from %q (not shown: it came from the environment)", raw)
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "true/false"
		case "!!null":
			return "null"
		}
		return "a string"
	}
	return "nothing"
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
