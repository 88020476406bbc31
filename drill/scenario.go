// Package drill rehearses provider outages against a real, in-process
// gateway and proves what it does: it starts the gateway (gateway.New +
// Run on 127.0.0.1, SQLite in a temp dir, sim channels), drives steady
// traffic through the HTTP API, applies a timeline of sim mode changes
// (loud and silent outages, flapping, recovery), follows every message and
// every channel's breaker and health, and reports what happened against
// the targets the scenario file states. `switchboard drill` is its CLI.
//
// A scenario is one YAML file (see drills/*.yaml):
//
//	name: loud
//	duration: 30s                 # traffic runs this long
//	drain: 20s                    # then every message must become final within this
//	traffic: {rate: 40, recipients: 500, tags: [otp]}
//	primary: whatsapp             # the channel the outage stats are about (default: route[0])
//	timeline:
//	  - {at: 8s, channel: whatsapp, mode: down}
//	  - {at: 20s, channel: whatsapp, mode: up}
//	  - {at: 25s, channel: "*", mode: down}   # "*": every channel
//	targets: {lost: 0, max_failed_calls: 12, breaker_open_within: 1s}
//	# silent outages (a blackhole on a channel with receipts), see drills/silent.yaml:
//	# targets: {detected_within: 61s, min_fast_fallback_ratio: 0.95, recover_within: 1.5s}
//	gateway:                      # the gateway config's own keys
//	  dispatch: {poll: 50ms}
//	  channels: {whatsapp: {type: sim, kind: whatsapp, ...}, ...}
//	  policies: [{name: otp, match: {tags: [otp]}, route: [whatsapp, sms], ...}]
//
// The drill adds server, store and auth to the gateway section and loads it
// with config.Parse, so it is validated exactly as `switchboard serve`
// would validate it.
package drill

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-gw/switchboard/channels/sim"
	"github.com/switchboard-gw/switchboard/config"
)

// Duration is a time.Duration written as "1.5s" in YAML and as seconds in
// JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads "250ms", "1m30s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 500ms or 1m30s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Scenario is one drill file.
type Scenario struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Duration    Duration `yaml:"duration"` // traffic duration
	// Drain bounds the wait, after the traffic, for every accepted message
	// to become final. Default: the policy's TTL plus 5s, at most 2m.
	Drain   Duration `yaml:"drain"`
	Traffic Traffic  `yaml:"traffic"`
	// Primary is the channel whose outage the stats describe. Default: the
	// first channel of the traffic's policy route.
	Primary  string    `yaml:"primary"`
	Timeline []Event   `yaml:"timeline"`
	Targets  Targets   `yaml:"targets"`
	Gateway  yaml.Node `yaml:"gateway"`

	// Path is the file it was loaded from.
	Path string `yaml:"-"`
	// Config is the gateway config built from Gateway (without the store
	// DSN, which Run sets per run).
	config *config.Config
	policy *config.Policy
}

// Traffic is the steady load the drill drives.
type Traffic struct {
	Rate       float64  `yaml:"rate"`       // messages per second
	Recipients int      `yaml:"recipients"` // distinct recipients, used round robin; default 1000
	Policy     string   `yaml:"policy"`     // named policy; default: chosen by tags
	Tags       []string `yaml:"tags"`
	TTL        Duration `yaml:"ttl"` // per-message ttl; default the policy's
	// Concurrency caps requests in flight; default 256. A tick that finds
	// it full is counted as not posted (the generator could not keep up).
	Concurrency int `yaml:"concurrency"`
}

// Event changes the world at an offset from the start of the traffic.
type Event struct {
	At      Duration `yaml:"at"`
	Channel string   `yaml:"channel"` // a channel name, or "*" for every channel
	Mode    string   `yaml:"mode"`    // a sim mode: up, down, blackhole, flaky, reject, timeout, undeliver, unread
	Note    string   `yaml:"note"`    // shown in the report
	// Targets for the phase this event starts (until the next event):
	// the timing and primary-channel targets (breaker_open_within,
	// fallback_within, moved_within, return_within, max_failed_calls,
	// max_receipt_waits, max_p99_during), measured from the event.
	Targets *Targets `yaml:"targets"`
}

func (e Event) label() string {
	s := fmt.Sprintf("%s %s", e.Channel, e.Mode)
	if e.Channel == "*" {
		s = "all " + e.Mode
	}
	if e.Note != "" {
		s += " (" + e.Note + ")"
	}
	return s
}

// Targets are what the scenario promises. Unset targets are not checked,
// except that no accepted message may be lost or left unfinished, and every
// provider accept must be recorded as an attempt: those are always checked.
type Targets struct {
	// Lost must be 0 when given (it is always checked).
	Lost *int `yaml:"lost" json:"lost,omitempty"`
	// MaxFailed, MaxExpired: messages ending failed / expired.
	MaxFailed  *int `yaml:"max_failed" json:"max_failed,omitempty"`
	MaxExpired *int `yaml:"max_expired" json:"max_expired,omitempty"`
	// MaxDuplicates: messages delivered by more than one attempt.
	MaxDuplicates *int `yaml:"max_duplicates" json:"max_duplicates,omitempty"`
	// MaxRefused: posts the API did not answer with a 202.
	MaxRefused *int `yaml:"max_refused" json:"max_refused,omitempty"`
	// MinFallback: messages delivered on a channel other than the primary.
	MinFallback *int `yaml:"min_fallback" json:"min_fallback,omitempty"`
	// MaxFailedCalls: messages that paid at least one failed provider call
	// on the primary during the outage.
	MaxFailedCalls *int `yaml:"max_failed_calls" json:"max_failed_calls,omitempty"`
	// MaxReceiptWaits: messages that waited out a receipt deadline on the
	// primary during the outage (silent outages).
	MaxReceiptWaits *int `yaml:"max_receipt_waits" json:"max_receipt_waits,omitempty"`
	// BreakerOpenWithin: outage start to the primary's breaker opening.
	BreakerOpenWithin *Duration `yaml:"breaker_open_within" json:"breaker_open_within,omitempty"`
	// FallbackWithin: outage start to the first delivery on another channel.
	FallbackWithin *Duration `yaml:"fallback_within" json:"fallback_within,omitempty"`
	// MovedWithin: the primary's breaker opening to the first fallback
	// delivery of a message posted after it opened (new traffic moved).
	MovedWithin *Duration `yaml:"moved_within" json:"moved_within,omitempty"`
	// ReturnWithin: recovery (the primary set up for good) to the first
	// send the primary accepts again.
	ReturnWithin *Duration `yaml:"return_within" json:"return_within,omitempty"`
	// MaxP99During: p99 delivery latency of messages posted during the
	// outage.
	MaxP99During *Duration `yaml:"max_p99_during" json:"max_p99_during,omitempty"`

	// Silent outages (the receipt breaker); scenario-level only.
	//
	// DetectedWithin: outage start (the first non-up event on the primary)
	// to the primary's receipt breaker declaring it silent (silent_since).
	DetectedWithin *Duration `yaml:"detected_within" json:"detected_within,omitempty"`
	// MinFastFallbackRatio: of the messages posted while the primary was
	// silent (from silent_since to its recovery, or the end of the
	// traffic), the share delivered on another channel within
	// FastFallbackWithin of their POST.
	MinFastFallbackRatio *float64 `yaml:"min_fast_fallback_ratio" json:"min_fast_fallback_ratio,omitempty"`
	// FastFallbackWithin: the delay that counts as fast; default 1s.
	FastFallbackWithin *Duration `yaml:"fast_fallback_within" json:"fast_fallback_within,omitempty"`
	// RecoverWithin: the primary set up for good to the first message (not
	// a canary) the primary delivers again: traffic has returned.
	RecoverWithin *Duration `yaml:"recover_within" json:"recover_within,omitempty"`

	// Read-based failover (a policy's read_timeout); scenario-level only.
	//
	// MinNoRead: messages the route moved on from with no_read.
	MinNoRead *int `yaml:"min_no_read" json:"min_no_read,omitempty"`
	// MaxTakeover: for those, the longest time from the primary's delivered
	// receipt to the fallback's.
	MaxTakeover *Duration `yaml:"max_no_read_takeover" json:"max_no_read_takeover,omitempty"`
}

// silentTargets says whether t sets any of the silent-outage targets.
func (t *Targets) silentTargets() bool {
	return t.DetectedWithin != nil || t.MinFastFallbackRatio != nil || t.FastFallbackWithin != nil || t.RecoverWithin != nil
}

// Load reads and checks a scenario file.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse checks a scenario held in memory; name is used in errors.
func Parse(name string, data []byte) (*Scenario, error) {
	var sc Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sc.Path = name
	if err := sc.check(name); err != nil {
		return nil, err
	}
	return &sc, nil
}

// DrillKeys are the API keys of a drill's gateway (it listens on
// 127.0.0.1 only, for the duration of the drill).
const (
	sendKey  = "drill-send-key-0123456789"
	readKey  = "drill-read-key-0123456789"
	adminKey = "drill-admin-key-0123456789"
)

func (sc *Scenario) check(name string) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	}
	if sc.Duration <= 0 {
		bad("duration: required, > 0")
	}
	if sc.Traffic.Rate <= 0 || sc.Traffic.Rate > 2000 {
		bad("traffic.rate: want 0 < rate <= 2000 messages/s, got %v", sc.Traffic.Rate)
	}
	if sc.Traffic.Recipients == 0 {
		sc.Traffic.Recipients = 1000
	}
	if sc.Traffic.Recipients < 0 {
		bad("traffic.recipients: must be positive")
	}
	if sc.Traffic.Concurrency == 0 {
		sc.Traffic.Concurrency = 256
	}
	if sc.Targets.Lost != nil && *sc.Targets.Lost != 0 {
		bad("targets.lost: must be 0 (no accepted message may be lost; it is always checked)")
	}
	cfg, err := sc.buildConfig(name, filepath.Join(os.TempDir(), "drill-check.db"))
	if err != nil {
		return fmt.Errorf("%s: gateway: %w", name, err)
	}
	sc.config = cfg
	pol, err := selectPolicy(cfg, sc.Traffic.Policy, sc.Traffic.Tags)
	if err != nil {
		bad("traffic: %v", err)
	} else {
		sc.policy = pol
		if sc.Primary == "" {
			sc.Primary = pol.Route[0]
		}
		if !slices.Contains(pol.Route, sc.Primary) {
			bad("primary: %q is not in policy %s's route %v", sc.Primary, pol.Name, pol.Route)
		}
	}
	for _, ch := range cfg.Channels {
		if ch.Type != "sim" {
			bad("gateway.channels.%s: type %s: a drill drives sim channels only", ch.Name, ch.Type)
		}
	}
	prev := Duration(0)
	for i, e := range sc.Timeline {
		p := fmt.Sprintf("timeline[%d]", i)
		if e.At < 0 || e.At > sc.Duration {
			bad("%s.at: %s is outside the traffic's duration %s", p, e.At, sc.Duration)
		}
		if e.At < prev {
			bad("%s.at: events must be in time order (%s after %s)", p, e.At, prev)
		}
		prev = e.At
		if e.Channel != "*" && cfg.Channel(e.Channel) == nil {
			bad("%s.channel: unknown channel %q", p, e.Channel)
		}
		if !slices.Contains(sim.Modes, e.Mode) {
			bad("%s.mode: unknown sim mode %q (want one of %s)", p, e.Mode, strings.Join(sim.Modes, ", "))
		}
		if e.Targets != nil && e.Targets.silentTargets() {
			bad("%s.targets: detected_within, min_fast_fallback_ratio, fast_fallback_within and recover_within are scenario-level targets", p)
		}
	}
	if r := sc.Targets.MinFastFallbackRatio; r != nil && (*r <= 0 || *r > 1) {
		bad("targets.min_fast_fallback_ratio: want a share above 0 and at most 1 (0.95 is 95%%), got %g", *r)
	}
	if d := sc.Targets.FastFallbackWithin; d != nil && *d <= 0 {
		bad("targets.fast_fallback_within: must be > 0")
	}
	if sc.Drain == 0 && sc.policy != nil {
		ttl := sc.policy.TTL.D()
		if sc.Traffic.TTL > 0 {
			ttl = sc.Traffic.TTL.D()
		}
		sc.Drain = Duration(min(ttl+5*time.Second, 2*time.Minute))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w", name, errors.Join(errs...))
	}
	return nil
}

// buildConfig makes a full gateway config from the scenario's gateway
// section: server, store and auth are the drill's; the rest is the file's.
func (sc *Scenario) buildConfig(name, dsn string) (*config.Config, error) {
	gw := &sc.Gateway
	if gw.Kind == 0 {
		return nil, errors.New("the scenario has no gateway section (channels and policies)")
	}
	if gw.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: gateway must be a mapping", gw.Line)
	}
	for i := 0; i+1 < len(gw.Content); i += 2 {
		switch k := gw.Content[i].Value; k {
		case "server", "store", "auth":
			return nil, fmt.Errorf("line %d: gateway.%s is set by the drill", gw.Content[i].Line, k)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server: {listen: \"127.0.0.1:0\", shutdown_timeout: 10s}\n")
	fmt.Fprintf(&b, "store: {driver: sqlite, dsn: %s}\n", strconv.Quote(dsn))
	fmt.Fprintf(&b, "auth:\n  keys:\n")
	fmt.Fprintf(&b, "    - {name: drill, key: %q, role: send}\n", sendKey)
	fmt.Fprintf(&b, "    - {name: drill-read, key: %q, role: read}\n", readKey)
	fmt.Fprintf(&b, "    - {name: drill-admin, key: %q, role: admin}\n", adminKey)
	rest, err := yaml.Marshal(gw)
	if err != nil {
		return nil, err
	}
	b.Write(rest)
	return config.ParseWithEnv(name+" (gateway section)", []byte(b.String()), func(string) (string, bool) { return "", false })
}

// selectPolicy mirrors routing.Router.SelectPolicy on a config.
func selectPolicy(cfg *config.Config, name string, tags []string) (*config.Policy, error) {
	if name != "" {
		if p := cfg.Policy(name); p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("no policy named %q", name)
	}
	for _, p := range cfg.Policies {
		for _, t := range p.Match.Tags {
			if slices.Contains(tags, t) {
				return p, nil
			}
		}
	}
	if p := cfg.Policy("default"); p != nil {
		return p, nil
	}
	return nil, errors.New("no policy matches the traffic's tags and there is no default policy")
}
