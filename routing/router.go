package routing

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/health"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// Health is what routing needs to know about a channel's probes and ops
// overrides. *health.Monitor implements it.
type Health interface {
	Usable(name string) (ok bool, state health.State, reason string)
}

var (
	// ErrUnknownPolicy: the request named a policy that is not configured.
	ErrUnknownPolicy = errors.New("unknown policy")
	// ErrNoPolicy: no policy matched and there is no "default" policy.
	ErrNoPolicy = errors.New("no policy matches and no default policy is configured")
)

// Router holds one configuration's policies and lanes. It is immutable; a
// reload builds a new one.
type Router struct {
	policies []*config.Policy
	byName   map[string]*config.Policy
	lanes    map[string]*Lane
	order    []string // lane names in config order
	health   Health
	// readWait: channel name -> policy name -> read timeout (read.go).
	readWait map[string]map[string]time.Duration
	// spend is the dispatcher's spend book (set by SetRouter); nil: no
	// budget is checked (an offline explanation).
	spend *SpendBook
}

// NewRouter builds a router. Every route entry must name a lane (config
// validation guarantees it for a loaded config).
func NewRouter(policies []*config.Policy, lanes []*Lane, h Health) (*Router, error) {
	r := &Router{
		policies: policies,
		byName:   make(map[string]*config.Policy, len(policies)),
		lanes:    make(map[string]*Lane, len(lanes)),
		health:   h,
	}
	for _, l := range lanes {
		r.lanes[l.Name] = l
		r.order = append(r.order, l.Name)
	}
	for _, p := range policies {
		r.byName[p.Name] = p
		for _, name := range p.Route {
			if _, ok := r.lanes[name]; !ok {
				return nil, fmt.Errorf("policy %q: route names unknown channel %q", p.Name, name)
			}
		}
	}
	r.readWait = readWaits(r)
	return r, nil
}

// Lane returns the named lane or nil.
func (r *Router) Lane(name string) *Lane { return r.lanes[name] }

// Lanes returns every lane in config order.
func (r *Router) Lanes() []*Lane {
	out := make([]*Lane, 0, len(r.order))
	for _, n := range r.order {
		out = append(out, r.lanes[n])
	}
	return out
}

// ExpectsReceipts reports whether any policy waits for a delivered receipt
// from the named channel (has a receipt_timeout for it): only then can the
// channel's receipt breaker judge it.
func (r *Router) ExpectsReceipts(name string) bool {
	for _, p := range r.policies {
		if p.ReceiptTimeout[name] > 0 {
			return true
		}
	}
	return false
}

// Policy returns the named policy or nil.
func (r *Router) Policy(name string) *config.Policy { return r.byName[name] }

// SelectPolicy picks the policy for a message: the one it names, else the
// first whose match it fits (config.Match.Fits: tags and destination
// country), else "default".
func (r *Router) SelectPolicy(name string, in *config.MatchInput) (*config.Policy, error) {
	if name != "" {
		if p := r.byName[name]; p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("%w %q", ErrUnknownPolicy, name)
	}
	if p := config.MatchPolicy(r.policies, in); p != nil {
		return p, nil
	}
	if p := r.byName["default"]; p != nil {
		return p, nil
	}
	return nil, ErrNoPolicy
}

// Decision says whether one channel of a route would be tried now, and why.
type Decision struct {
	Channel string `json:"channel"`
	Kind    string `json:"kind,omitempty"`
	Use     bool   `json:"use"`
	// Reason is reason.OK or why the channel is out: no_address,
	// unknown_channel, disabled, unhealthy, breaker_open, silent (its
	// receipt breaker says it accepts messages but does not deliver them).
	// Waiting (a trigger not in the policy's failover_on, or a 429) is a
	// reason of KindWait: wait_unhealthy, wait_breaker, ...
	Reason reason.Reason `json:"reason"`
	Detail string        `json:"detail,omitempty"`
	// Sentence is Reason's support sentence for this channel (the words
	// the dashboard and `switchboard status` use), with Detail in it
	// where the reason takes one.
	Sentence string `json:"sentence"`
	State    string `json:"state,omitempty"`
	Breaker  string `json:"breaker,omitempty"`

	// errorClass is the channels.Class of a send this explanation knows
	// would fail (reason.Error), for its sentence.
	errorClass channels.Class
	// fails: the message would fail on this channel rather than move on
	// (reason.Error under a policy that does not fail over on error).
	fails bool
}

// worded is d with its Sentence said from its reason and detail. Only
// explanations carry sentences: the dispatcher's decisions go without.
func (d Decision) worded() Decision {
	detail := d.Detail
	if d.errorClass != "" {
		// "...: no sender for GB (misconfigured)": the sentence says the class in words.
		detail = strings.TrimSuffix(detail, " ("+string(d.errorClass)+")")
	}
	d.Sentence = d.Reason.Sentence(reason.Facts{Channel: d.Channel, Error: detail, ErrorClass: string(d.errorClass), Skipped: !d.Use})
	return d
}

// stopsRoute reports whether the route ends at d for now: the message
// waits for the channel, or would fail on it.
func (d Decision) stopsRoute() bool { return d.Reason.Wait() || d.fails }

// senderChecker is a channel that tells, without a provider call, whether
// it has a sender for an address: channels with senders by destination
// country (Twilio's senders, WhatsApp Cloud's phone_number_ids).
type senderChecker interface {
	CheckSender(to string) error
}

// withSender is d, or, when d's channel would be used but has no sender
// for the recipient's country, the error its send would fail with. The
// dispatcher learns that only from the send, which fails at once as
// misconfigured (then the route moves on, or the message fails if the
// policy does not fail over on error); an explanation must not say "ok".
func (r *Router) withSender(p *config.Policy, d Decision, to store.Recipient) Decision {
	l := r.lanes[d.Channel]
	if !d.Use || l == nil {
		return d
	}
	sc, ok := l.Channel.(senderChecker)
	if !ok {
		return d
	}
	err := sc.CheckSender(AddressFor(to, l.Kind))
	if !errors.Is(err, channels.ErrNoSender) {
		return d
	}
	d.Use, d.Reason, d.Detail, d.errorClass = false, reason.Error, err.Error(), channels.Misconfigured
	d.fails = !p.FailsOverOn(reason.Error.Trigger())
	return d
}

// Explain says what the route of p would do right now for a recipient.
// The first Decision with Use == true is where the message would go.
func (r *Router) Explain(p *config.Policy, to store.Recipient) []Decision {
	now := time.Now()
	out := make([]Decision, 0, len(p.Route))
	for _, name := range p.Route {
		out = append(out, r.withSender(p, r.decide(p, name, to, now), to).worded())
	}
	return out
}

// ErrUnknownChannel: an explanation was asked to assume down a channel
// that is not configured.
var ErrUnknownChannel = errors.New("unknown channel")

// ExplainWith is Explain with the named channels treated as down, for this
// explanation only: "what if WhatsApp went dark now?". The offline CLI
// (switchboard routes explain) and POST /v1/routes/explain both use it, so
// a rehearsal and the live answer never disagree. Unknown names are an
// error wrapping ErrUnknownChannel.
func (r *Router) ExplainWith(p *config.Policy, to store.Recipient, assumeDown []string) ([]Decision, error) {
	if len(assumeDown) == 0 {
		return r.Explain(p, to), nil
	}
	down := make(map[string]bool, len(assumeDown))
	for _, name := range assumeDown {
		if r.lanes[name] == nil {
			return nil, fmt.Errorf("%w %q (configured: %s)", ErrUnknownChannel, name, strings.Join(r.order, ", "))
		}
		down[name] = true
	}
	// A shallow copy shares the immutable policies and lanes; only the
	// health view differs.
	what := *r
	what.health = assumedDown{down: down, next: r.health}
	return what.Explain(p, to), nil
}

// assumedDown reports the listed channels down and asks next about the rest.
type assumedDown struct {
	down map[string]bool
	next Health // nil: every other channel is usable (offline)
}

func (a assumedDown) Usable(name string) (bool, health.State, string) {
	if a.down[name] {
		return false, health.Down, "assume_down: assumed down for this explanation"
	}
	if a.next == nil {
		return true, health.Healthy, ""
	}
	return a.next.Usable(name)
}

// Explanation is the route a message would take now, and why: the body of
// POST /v1/routes/explain and the output of `switchboard routes explain`.
type Explanation struct {
	Policy   string     `json:"policy"`
	Route    []string   `json:"route"`
	Channel  string     `json:"channel,omitempty"` // where the message would go now; empty if nowhere
	Channels []Decision `json:"channels"`
	// Policies is each policy's verdict on the message, in config order:
	// why it did or did not match.
	Policies []config.PolicyMatch `json:"policies,omitempty"`
}

// ExplainMessage selects the policy a message would get (see SelectPolicy)
// and explains its route with ExplainWith.
func (r *Router) ExplainMessage(policy string, in *config.MatchInput, to store.Recipient, assumeDown []string) (Explanation, error) {
	pol, err := r.SelectPolicy(policy, in)
	if err != nil {
		return Explanation{}, err
	}
	ds, err := r.ExplainWith(pol, to, assumeDown)
	if err != nil {
		return Explanation{}, err
	}
	matches, _ := config.ExplainMatch(r.policies, policy, in)
	out := Explanation{Policy: pol.Name, Route: pol.Route, Channels: ds, Policies: matches}
	for _, d := range ds {
		if d.Use {
			out.Channel = d.Channel
			break
		}
		if d.stopsRoute() {
			break // the dispatcher waits for this channel, or fails there: nowhere now
		}
	}
	return out, nil
}

// decide is the one place that says whether a channel is in or out; the
// dispatcher and Explain both use it so an explanation never lies.
func (r *Router) decide(p *config.Policy, name string, to store.Recipient, now time.Time) Decision {
	d := Decision{Channel: name}
	l := r.lanes[name]
	if l == nil {
		d.Reason = reason.UnknownChannel
		d.Detail = "the channel is no longer configured"
		return d
	}
	d.Kind = string(l.Kind)
	d.Breaker = l.BreakerState()
	if AddressFor(to, l.Kind) == "" {
		d.Reason = reason.NoAddress
		d.Detail = fmt.Sprintf("the message has no %s address", l.Kind)
		return d
	}
	if over, detail := r.spend.overBudget(l, now); over {
		// Before health: a channel over budget is left whatever the
		// policy's failover_on says (see reason.Budget).
		d.Reason, d.Detail = reason.Budget, detail
		return d
	}
	if r.health != nil {
		ok, state, why := r.health.Usable(name)
		d.State = string(state)
		if !ok {
			d.Reason = reason.Unhealthy
			if state == health.Disabled {
				d.Reason = reason.Disabled
			}
			d.Detail = why
			return d.unlessWaiting(p)
		}
	}
	if until := l.PausedUntil(); !until.IsZero() && now.Before(until) {
		// A 429 is the provider asking us to slow down, not a failure:
		// messages wait for the channel rather than fail over.
		d.Reason = reason.WaitRateLimited
		d.Detail = "the provider asked us to slow down until " + until.UTC().Format(time.RFC3339)
		return d
	}
	if d.Breaker == "open" {
		d.Reason = reason.BreakerOpen
		d.Detail = "the circuit breaker is open after repeated failures"
		return d.unlessWaiting(p)
	}
	if l.receipts.poll(now); l.receipts.Silent() {
		d.Detail = l.receipts.SilentDetail()
		if p.FailsOverOn(config.TriggerSilent) {
			d.Reason = reason.Silent
			return d
		}
		// The policy does not fail over on silent: it keeps sending and
		// waits out each receipt deadline, as before the receipt breaker.
	}
	d.Use = true
	d.Reason = reason.OK
	return d
}

// unlessWaiting turns d's failover reason into its wait when the policy
// does not fail over on its trigger.
func (d Decision) unlessWaiting(p *config.Policy) Decision {
	if !p.FailsOverOn(d.Reason.Trigger()) {
		d.Reason = d.Reason.Waiting()
	}
	return d
}
