package routing_test

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/sim"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/health"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

// fuzzHealth says a fixed set of channels is down or disabled.
type fuzzHealth struct{ down, disabled map[string]bool }

func (h fuzzHealth) Usable(name string) (bool, health.State, string) {
	switch {
	case h.disabled[name]:
		return false, health.Disabled, "disabled by ops"
	case h.down[name]:
		return false, health.Down, "probes failing"
	}
	return true, health.Healthy, ""
}

// FuzzRouteMatcher drives SelectPolicy, Explain and ExplainMessage with
// arbitrary policy names, tags, recipients and assume-down lists, and
// checks the matcher's contract: the named policy, else the first whose
// tags match, else default; one decision per route entry, in order; a
// channel is used only with an address, only when healthy (or assumed so)
// and only as "ok"; the explanation's channel is the first usable one.
func FuzzRouteMatcher(f *testing.F) {
	f.Add("", "otp", "+15551234567", "+15551234567", "ana@example.com", "123", "", "")
	f.Add("", "otp,promo", "", "+15551234567", "", "", "whatsapp", "sms")
	f.Add("alerts", "", "+1", "", "a@b", "", "whatsapp,sms", "")
	f.Add("nope", "otp", "", "", "", "", "", "")
	f.Add("", "promo", "", "", "", "9", "", "telegram,email")
	f.Add("", ",,otp,", "x", "y", "z", "w", " whatsapp , ", "pigeon")
	f.Add("default", "OTP", "", "", "", "", "pigeon", "")
	f.Add("", "marketing\x00", "\xff", "", "", "", ",", ",")

	mk := func(name, kind string) *routing.Lane {
		s, err := sim.New(name, channels.Kind(kind), sim.DefaultOptions(), channels.Deps{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { _ = s.Close() })
		cc := &config.Channel{Name: name, Type: "sim", Kind: kind}
		cc.Breaker.Failures, cc.Breaker.HalfOpenRequests = 5, 1
		return routing.NewLane(s, cc, slog.New(slog.DiscardHandler))
	}
	lanes := []*routing.Lane{mk("whatsapp", "whatsapp"), mk("sms", "sms"), mk("email", "email"), mk("telegram", "telegram")}
	policies := []*config.Policy{
		{Name: "otp", Match: config.Match{Tags: []string{"otp", "2fa"}}, Route: []string{"whatsapp", "sms", "email"}, FailoverOn: config.AllTriggers},
		{Name: "promo", Match: config.Match{Tags: []string{"promo"}}, Route: []string{"email", "telegram"}, FailoverOn: []config.Trigger{config.TriggerError}},
		{Name: "alerts", Route: []string{"telegram", "sms"}, FailoverOn: []config.Trigger{config.TriggerUnhealthy, config.TriggerError}},
		{Name: "default", Route: []string{"whatsapp", "email"}, FailoverOn: config.AllTriggers},
	}
	names := []string{"whatsapp", "sms", "email", "telegram"}

	f.Fuzz(func(t *testing.T, policy, tagsCSV, phone, whatsapp, email, telegram, assumeCSV, downCSV string) {
		split := func(s string) []string {
			var out []string
			for _, p := range strings.Split(s, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			return out
		}
		h := fuzzHealth{down: map[string]bool{}, disabled: map[string]bool{}}
		for i, n := range split(downCSV) {
			if i%2 == 0 {
				h.down[n] = true
			} else {
				h.disabled[n] = true
			}
		}
		r, err := routing.NewRouter(policies, lanes, h)
		if err != nil {
			t.Fatal(err)
		}
		tags := strings.Split(tagsCSV, ",")
		to := store.Recipient{Phone: phone, WhatsApp: whatsapp, Email: email, Telegram: telegram}

		p, err := r.SelectPolicy(policy, &config.MatchInput{Tags: tags})
		switch {
		case policy != "":
			if r.Policy(policy) == nil {
				if !errors.Is(err, routing.ErrUnknownPolicy) || p != nil {
					t.Fatalf("unknown policy %q: got %v, %v", policy, p, err)
				}
				return
			}
			if err != nil || p.Name != policy {
				t.Fatalf("named policy %q: got %v, %v", policy, p, err)
			}
		default:
			if err != nil {
				t.Fatalf("tags %q: %v (there is a default policy)", tags, err)
			}
			want := "default"
			for _, cand := range policies {
				if slices.ContainsFunc(cand.Match.Tags, func(tag string) bool { return slices.Contains(tags, tag) }) {
					want = cand.Name
					break
				}
			}
			if p.Name != want {
				t.Fatalf("tags %q: got policy %s, want %s", tags, p.Name, want)
			}
		}

		ds := r.Explain(p, to)
		if len(ds) != len(p.Route) {
			t.Fatalf("%d decisions for a route of %d", len(ds), len(p.Route))
		}
		for i, d := range ds {
			if d.Channel != p.Route[i] || d.Reason == "" || d.Use != (d.Reason == "ok") {
				t.Fatalf("decision %d: %+v (route %v)", i, d, p.Route)
			}
			addr := routing.AddressFor(to, r.Lane(d.Channel).Kind)
			if addr == "" && d.Reason != "no_address" {
				t.Fatalf("%s has no address but decision says %q", d.Channel, d.Reason)
			}
			if d.Use && (h.down[d.Channel] || h.disabled[d.Channel]) {
				t.Fatalf("%s is down/disabled but used", d.Channel)
			}
		}

		assume := split(assumeCSV)
		exp, err := r.ExplainMessage(policy, &config.MatchInput{Tags: tags}, to, assume)
		unknown := slices.ContainsFunc(assume, func(n string) bool { return !slices.Contains(names, n) })
		if unknown {
			if !errors.Is(err, routing.ErrUnknownChannel) {
				t.Fatalf("assume_down %q: want ErrUnknownChannel, got %v", assume, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ExplainMessage: %v", err)
		}
		if exp.Policy != p.Name || len(exp.Channels) != len(p.Route) {
			t.Fatalf("explanation %+v for policy %s", exp, p.Name)
		}
		first := ""
		for _, d := range exp.Channels {
			if d.Use && slices.Contains(assume, d.Channel) {
				t.Fatalf("%s assumed down but used", d.Channel)
			}
			if d.Reason.Wait() && first == "" {
				break
			}
			if d.Use && first == "" {
				first = d.Channel
			}
		}
		if exp.Channel != first {
			t.Fatalf("explanation picks %q, first usable is %q: %+v", exp.Channel, first, exp.Channels)
		}
	})
}
