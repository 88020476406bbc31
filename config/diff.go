package config

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Diff is what changed between two configs: what a reload would do, or
// what `switchboard config diff` prints. It never holds a secret: values of
// channel type-specific keys (auth_token, password, ...) and of API keys are
// never copied in, only the fact that they changed.
type Diff struct {
	ChannelsAdded   []string     `json:"channels_added,omitempty"`
	ChannelsRemoved []string     `json:"channels_removed,omitempty"`
	ChannelsChanged []ItemChange `json:"channels_changed,omitempty"`
	PoliciesAdded   []string     `json:"policies_added,omitempty"`
	PoliciesRemoved []string     `json:"policies_removed,omitempty"`
	PoliciesChanged []ItemChange `json:"policies_changed,omitempty"`
	KeysAdded       []string     `json:"keys_added,omitempty"`
	KeysRemoved     []string     `json:"keys_removed,omitempty"`
	KeysChanged     []ItemChange `json:"keys_changed,omitempty"`
	// Settings are changes outside channels, policies and API keys
	// (server, store, dispatch, ...), and the order of policies.
	Settings []Change `json:"settings,omitempty"`
}

// ItemChange is the changed keys of one named channel, policy or API key.
type ItemChange struct {
	Name    string   `json:"name"`
	Changes []Change `json:"changes"`
}

// Change is one changed key. Old and New are empty when the values are not
// shown (Note says what happened instead: "changed", "added", "removed").
type Change struct {
	Key  string `json:"key"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
	Note string `json:"note,omitempty"`
	// Restart: a running gateway cannot apply this change; it needs a
	// restart (a reload that includes it is refused).
	Restart bool `json:"restart,omitempty"`
}

func (c Change) String() string {
	s := c.Key + ": " + c.Old + " → " + c.New
	if c.Note != "" {
		s = c.Key + " " + c.Note
	}
	if c.Restart {
		s += " (needs a restart)"
	}
	return s
}

// Empty reports whether nothing changed.
func (d Diff) Empty() bool {
	return len(d.ChannelsAdded)+len(d.ChannelsRemoved)+len(d.ChannelsChanged)+
		len(d.PoliciesAdded)+len(d.PoliciesRemoved)+len(d.PoliciesChanged)+
		len(d.KeysAdded)+len(d.KeysRemoved)+len(d.KeysChanged)+len(d.Settings) == 0
}

// NeedsRestart returns the changes a running gateway cannot apply.
func (d Diff) NeedsRestart() []Change {
	var out []Change
	for _, c := range d.Settings {
		if c.Restart {
			out = append(out, c)
		}
	}
	return out
}

// ChannelChanged reports whether the named channel is in ChannelsChanged.
func (d Diff) ChannelChanged(name string) bool {
	return slices.ContainsFunc(d.ChannelsChanged, func(c ItemChange) bool { return c.Name == name })
}

// String is a readable summary, one line per added (+), removed (-) or
// changed (~) item, or "no changes" when Empty. For example:
//
//	~ channel whatsapp: retry.attempts: 3 → 2, auth_token changed
//	+ channel telegram
//	~ policy otp: route: [whatsapp, sms] → [sms, whatsapp]
//	~ API key ops: role: read → admin
func (d Diff) String() string {
	if d.Empty() {
		return "no changes"
	}
	var b strings.Builder
	line := func(format string, args ...any) {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, format, args...)
	}
	section := func(what string, added, removed []string, changed []ItemChange) {
		for _, n := range added {
			line("+ %s %s", what, n)
		}
		for _, n := range removed {
			line("- %s %s", what, n)
		}
		for _, c := range changed {
			parts := make([]string, len(c.Changes))
			for i, ch := range c.Changes {
				parts[i] = ch.String()
			}
			line("~ %s %s: %s", what, c.Name, strings.Join(parts, ", "))
		}
	}
	section("channel", d.ChannelsAdded, d.ChannelsRemoved, d.ChannelsChanged)
	section("policy", d.PoliciesAdded, d.PoliciesRemoved, d.PoliciesChanged)
	section("API key", d.KeysAdded, d.KeysRemoved, d.KeysChanged)
	for _, c := range d.Settings {
		line("~ %s", c)
	}
	return b.String()
}

// hotSettings are the settings outside channels, policies and auth that a
// running gateway applies on reload. Every other one needs a restart: a
// new top-level section is safe by default (refused, not silently ignored).
var hotSettings = map[string]bool{
	"server.shutdown_timeout": true, // read at shutdown
	"store.retention":         true, // read at each purge round
	"log.level":               true, // a slog.LevelVar (gateway.Options.LogLevel)
	// The callback address policy is read at each connection (gateway's
	// Reload swaps it; the API reads it from the config in force).
	"callbacks.allow_private_networks": true,
	"callbacks.allow_hosts":            true,
	// Read at each inbound message (package inbound) and each callback
	// signed (gateway's callback secrets).
	"inbound.callback_url":    true,
	"inbound.callback_secret": true,
	// Certificate files are read again on reload (gateway/tls.go); turning
	// TLS on or off needs a restart (see settings).
	"server.tls.cert_file": true,
	"server.tls.key_file":  true,
}

// hiddenSettings may hold credentials (a postgres DSN has a password).
var hiddenSettings = map[string]bool{"store.dsn": true}

// Compare returns what changed from old to new. Both are loaded configs
// (defaults applied), so a key written out with its default value and the
// same key left out compare equal. Lines and file names are ignored.
func Compare(old, new *Config) Diff {
	var d Diff
	d.channels(old, new)
	d.policies(old, new)
	d.keys(old, new)
	d.settings(old, new)
	return d
}

func (d *Diff) channels(old, new *Config) {
	for _, nc := range new.Channels {
		oc := old.Channel(nc.Name)
		if oc == nil {
			d.ChannelsAdded = append(d.ChannelsAdded, nc.Name)
			continue
		}
		if ch := ChannelChanges(oc, nc); len(ch) > 0 {
			d.ChannelsChanged = append(d.ChannelsChanged, ItemChange{Name: nc.Name, Changes: ch})
		}
	}
	for _, oc := range old.Channels {
		if new.Channel(oc.Name) == nil {
			d.ChannelsRemoved = append(d.ChannelsRemoved, oc.Name)
		}
	}
}

// ChannelChanges lists what differs between two versions of a channel: the
// common keys with their values, the type-specific keys (Options) by name
// only, since they may be secrets. Options are compared by value: moving a
// channel to another line of the file is not a change.
func ChannelChanges(old, new *Channel) []Change {
	var out []Change
	structChanges("", reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem(), &out)
	out = append(out, optionChanges(&old.Options, &new.Options)...)
	return out
}

func (d *Diff) policies(old, new *Config) {
	var common []string
	for _, np := range new.Policies {
		if np == nil {
			continue
		}
		op := old.Policy(np.Name)
		if op == nil {
			d.PoliciesAdded = append(d.PoliciesAdded, np.Name)
			continue
		}
		common = append(common, np.Name)
		var ch []Change
		structChanges("", reflect.ValueOf(op).Elem(), reflect.ValueOf(np).Elem(), &ch)
		if len(ch) > 0 {
			d.PoliciesChanged = append(d.PoliciesChanged, ItemChange{Name: np.Name, Changes: ch})
		}
	}
	var oldOrder []string
	for _, op := range old.Policies {
		if op == nil {
			continue
		}
		if new.Policy(op.Name) == nil {
			d.PoliciesRemoved = append(d.PoliciesRemoved, op.Name)
		} else {
			oldOrder = append(oldOrder, op.Name)
		}
	}
	// The first policy whose tags match wins, so order is behaviour.
	if !slices.Equal(oldOrder, common) {
		d.Settings = append(d.Settings, Change{Key: "policies (order)", Old: list(oldOrder), New: list(common)})
	}
}

func (d *Diff) keys(old, new *Config) {
	byName := func(keys []APIKey) map[string]APIKey {
		m := make(map[string]APIKey, len(keys))
		for _, k := range keys {
			m[k.Name] = k
		}
		return m
	}
	om := byName(old.Auth.Keys)
	nm := byName(new.Auth.Keys)
	for _, nk := range new.Auth.Keys {
		ok, found := om[nk.Name]
		if !found {
			d.KeysAdded = append(d.KeysAdded, nk.Name)
			continue
		}
		var ch []Change
		if ok.Role != nk.Role {
			ch = append(ch, Change{Key: "role", Old: string(ok.Role), New: string(nk.Role)})
		}
		if ok.Key != nk.Key {
			ch = append(ch, Change{Key: "key", Note: "changed"})
		}
		if ok.Rate != nk.Rate || ok.RateBurst() != nk.RateBurst() {
			ch = append(ch, Change{Key: "rate", Old: keyRate(ok), New: keyRate(nk)})
		}
		// Values never shown; only that the signing secrets changed (a
		// rotation), named by the key the new config uses.
		if ok.CallbackSecret != nk.CallbackSecret || !slices.Equal(ok.CallbackSecrets, nk.CallbackSecrets) {
			key := "callback_secret"
			if len(nk.CallbackSecrets) > 0 {
				key = "callback_secrets"
			}
			ch = append(ch, Change{Key: key, Note: "changed"})
		}
		if len(ch) > 0 {
			d.KeysChanged = append(d.KeysChanged, ItemChange{Name: nk.Name, Changes: ch})
		}
	}
	for _, ok := range old.Auth.Keys {
		if _, found := nm[ok.Name]; !found {
			d.KeysRemoved = append(d.KeysRemoved, ok.Name)
		}
	}
}

// settings compares every top-level section except channels, policies and
// auth, whatever sections Config grows.
func (d *Diff) settings(old, new *Config) {
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem()
	var out []Change
	for i := range ov.NumField() {
		name := yamlName(ov.Type().Field(i))
		switch name {
		case "", "auth", "policies":
			continue
		}
		fieldChanges(name, ov.Field(i), nv.Field(i), &out)
	}
	for i := range out {
		if hiddenSettings[out[i].Key] {
			out[i].Old, out[i].New, out[i].Note = "", "", "changed"
		}
		out[i].Restart = !hotSettings[out[i].Key] ||
			strings.HasPrefix(out[i].Key, "server.tls.") && old.Server.TLS.Enabled() != new.Server.TLS.Enabled()
	}
	d.Settings = append(d.Settings, out...)
}

// yamlName is a field's YAML key, or "" for fields not decoded from YAML.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || name == "" {
		return ""
	}
	return name
}

// structChanges compares the YAML fields of two structs of the same type.
func structChanges(prefix string, a, b reflect.Value, out *[]Change) {
	for i := range a.NumField() {
		name := yamlName(a.Type().Field(i))
		if name == "" {
			continue
		}
		fieldChanges(joinKey(prefix, name), a.Field(i), b.Field(i), out)
	}
}

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

func fieldChanges(key string, a, b reflect.Value, out *[]Change) {
	if a.Kind() == reflect.Struct && !a.Type().Implements(textMarshaler) {
		structChanges(key, a, b, out)
		return
	}
	// An optional section (cost, budget): key by key when both are set.
	if a.Kind() == reflect.Pointer && a.Type().Elem().Kind() == reflect.Struct && !a.IsNil() && !b.IsNil() {
		structChanges(key, a.Elem(), b.Elem(), out)
		return
	}
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return
	}
	*out = append(*out, Change{Key: key, Old: format(a), New: format(b)})
}

// format prints a value as it would be written in YAML, compactly.
func format(v reflect.Value) string {
	if v.Type() == reflect.TypeFor[Secret]() {
		return redacted
	}
	if m, ok := v.Interface().(encoding.TextMarshaler); ok && v.Kind() != reflect.Slice {
		if b, err := m.MarshalText(); err == nil {
			if len(b) == 0 {
				return "none" // a zero rate: unlimited
			}
			return string(b)
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return "none"
		}
		if s, ok := v.Interface().(fmt.Stringer); ok {
			return s.String() // a section that says itself best (quiet_hours)
		}
		if v.Elem().Kind() == reflect.Struct {
			var parts []string
			for i := range v.Elem().NumField() {
				f := v.Elem().Field(i)
				if name := yamlName(v.Elem().Type().Field(i)); name != "" && !f.IsZero() {
					parts = append(parts, name+": "+format(f))
				}
			}
			return "{" + strings.Join(parts, ", ") + "}"
		}
		return format(v.Elem())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = format(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		keys := v.MapKeys()
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%v: %s", k.Interface(), format(v.MapIndex(k))))
		}
		slices.Sort(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.String:
		if v.String() == "" {
			return `""`
		}
	}
	return fmt.Sprint(v.Interface())
}

func list(names []string) string { return "[" + strings.Join(names, ", ") + "]" }

// optionChanges names the type-specific keys that were added, removed or
// changed, never their values.
func optionChanges(old, new *yaml.Node) []Change {
	om, oKeys := optionMap(old)
	nm, nKeys := optionMap(new)
	var out []Change
	for _, k := range nKeys {
		ov, found := om[k]
		switch {
		case !found:
			out = append(out, Change{Key: k, Note: "added"})
		case !nodesEqual(ov, nm[k], 0):
			out = append(out, Change{Key: k, Note: "changed"})
		}
	}
	for _, k := range oKeys {
		if _, found := nm[k]; !found {
			out = append(out, Change{Key: k, Note: "removed"})
		}
	}
	return out
}

func optionMap(n *yaml.Node) (map[string]*yaml.Node, []string) {
	m := map[string]*yaml.Node{}
	var keys []string
	if n == nil {
		return m, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if _, dup := m[k]; !dup {
			keys = append(keys, k)
		}
		m[k] = n.Content[i+1]
	}
	return m, keys
}

// nodesEqual compares two YAML values by content: not by line, column,
// style (quoted or not) or mapping key order. Aliases are followed.
func nodesEqual(a, b *yaml.Node, depth int) bool {
	for a != nil && a.Kind == yaml.AliasNode {
		a = a.Alias
	}
	for b != nil && b.Kind == yaml.AliasNode {
		b = b.Alias
	}
	if a == nil || b == nil || depth > maxDepth {
		return a == b
	}
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case yaml.ScalarNode:
		return a.Value == b.Value && a.ShortTag() == b.ShortTag()
	case yaml.MappingNode:
		am, ak := optionMap(a)
		bm, bk := optionMap(b)
		if len(ak) != len(bk) {
			return false
		}
		for k, av := range am {
			bv, ok := bm[k]
			if !ok || !nodesEqual(av, bv, depth+1) {
				return false
			}
		}
		return true
	default: // sequences, documents
		if len(a.Content) != len(b.Content) {
			return false
		}
		for i := range a.Content {
			if !nodesEqual(a.Content[i], b.Content[i], depth+1) {
				return false
			}
		}
		return true
	}
}

// Line returns the line of key (a dotted path such as "server.listen") in
// the file c was loaded from, or of its nearest parent; 0 if unknown.
func (c *Config) Line(key string) int { return c.lines.line(key) }

// keyRate shows an API key's rate limit: "50/s burst 100", or "unlimited".
func keyRate(k APIKey) string {
	if k.Rate.PerSecond() == 0 {
		return "unlimited"
	}
	r, _ := k.Rate.MarshalText()
	return fmt.Sprintf("%s burst %d", r, k.RateBurst())
}
