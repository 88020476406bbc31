package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/switchboard-gw/switchboard/admission"
	"github.com/switchboard-gw/switchboard/api"
	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

func cmdRoutes(args []string, stdout, stderr io.Writer) error {
	if len(args) < 1 || args[0] != "explain" {
		return fmt.Errorf("%w: want \"routes explain [flags]\"", errUsage)
	}
	fs := flag.NewFlagSet("routes explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: the embedded config.example.yaml)")
	var to store.Recipient
	fs.StringVar(&to.Phone, "to-phone", "", "recipient phone number (sms)")
	fs.StringVar(&to.WhatsApp, "to-whatsapp", "", "recipient WhatsApp number")
	fs.StringVar(&to.Email, "to-email", "", "recipient email address")
	fs.StringVar(&to.Telegram, "to-telegram", "", "recipient Telegram chat id")
	tags := fs.String("tags", "", "message tags, comma-separated (select the policy as a send would)")
	policy := fs.String("policy", "", "policy name (overrides --tags)")
	assume := fs.String("assume-down", "", "channels to treat as down, comma-separated: an outage rehearsal")
	asJSON := fs.Bool("json", false, "print JSON (the body POST /v1/routes/explain answers)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: switchboard routes explain [flags]\n\n"+
			"Explains, from the config alone, which policy a message gets and which channel of\n"+
			"its route would take it, and why each is in or out. No network I/O: no probes run,\n"+
			"no store is opened, every breaker is closed. --assume-down marks channels down.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return fmt.Errorf("%s is not valid:\n%w", *path, err)
	}
	// A send with an impossible number is refused (422 invalid_recipient).
	phones, err := admission.ParseRecipient(to)
	var refused *admission.Error
	if errors.As(err, &refused) {
		return fmt.Errorf("--%s: %s", strings.ReplaceAll(refused.Field, ".", "-"), refused.Msg)
	} else if err != nil {
		return err
	}
	router, closeAll, err := offlineRouter(cfg)
	if err != nil {
		return err
	}
	defer closeAll()
	in := phones.MatchInput(splitList(*tags))
	exp, err := router.ExplainMessage(*policy, in, to, splitList(*assume))
	switch {
	case errors.Is(err, routing.ErrUnknownPolicy):
		return fmt.Errorf("--policy: %w", err)
	case errors.Is(err, routing.ErrNoPolicy):
		return fmt.Errorf("--tags: %w", err)
	case errors.Is(err, routing.ErrUnknownChannel):
		return fmt.Errorf("--assume-down: %w", err)
	case err != nil:
		return err
	}
	out := api.ExplainResponse{Explanation: exp}
	var countryErr error
	if phones.Phone != nil || phones.WhatsApp != nil {
		c := phones.Countries()
		out.Countries = &c
		if out.Country, out.CountryFrom = c.Phone, "phone"; out.Country == "" {
			out.Country, out.CountryFrom = c.WhatsApp, "whatsapp"
		}
		if pol, err := router.SelectPolicy(*policy, in); err == nil {
			countryErr = phones.CheckCountries(pol.Name, pol.Countries)
		}
	}
	if *asJSON {
		if countryErr != nil {
			return fmt.Errorf("a send would be refused (422 country_not_allowed): %w", countryErr)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printExplanation(stdout, exp)
	if out.Countries != nil {
		fmt.Fprintf(stdout, "\ncountry: %s", out.Country)
		if w := out.Countries.WhatsApp; w != "" && w != out.Country {
			fmt.Fprintf(stdout, " (whatsapp: %s)", w)
		}
		fmt.Fprintln(stdout)
	}
	printPolicies(stdout, exp.Policies)
	if countryErr != nil {
		return fmt.Errorf("a send would be refused (422 country_not_allowed): %w", countryErr)
	}
	return nil
}

// printPolicies says why each policy did or did not match.
func printPolicies(w io.Writer, ps []config.PolicyMatch) {
	if len(ps) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tMATCHED\tWHY")
	for _, p := range ps {
		matched := "no"
		if p.Matched {
			matched = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Policy, matched, p.Reason)
	}
	_ = tw.Flush()
}

// offlineRouter builds the config's router with no network I/O: channels
// are built (their factories must not dial), nothing is probed, and with no
// health view every channel counts as healthy.
func offlineRouter(cfg *config.Config) (*routing.Router, func(), error) {
	var built []channels.Channel
	closeAll := func() {
		for _, ch := range built {
			if c, ok := ch.(channels.Closer); ok {
				_ = c.Close()
			}
		}
	}
	var lanes []*routing.Lane
	quiet := slog.New(slog.DiscardHandler)
	for _, cc := range cfg.Channels {
		ch, err := channels.Build(cc, channels.Deps{Logger: quiet, PublicURL: cfg.Server.PublicURL})
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		built = append(built, ch)
		lanes = append(lanes, routing.NewLane(ch, cc, quiet))
	}
	r, err := routing.NewRouter(cfg.Policies, lanes, nil)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return r, closeAll, nil
}

func printExplanation(w io.Writer, exp routing.Explanation) {
	fmt.Fprintf(w, "policy:  %s\n", exp.Policy)
	fmt.Fprintf(w, "route:   %s\n", strings.Join(exp.Route, " → "))
	if exp.Channel != "" {
		fmt.Fprintf(w, "sends on: %s\n\n", exp.Channel)
	} else {
		fmt.Fprintf(w, "sends on: nothing: no channel of the route can take the message now\n\n")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANNEL\tKIND\tIN/OUT\tWHY\tIN WORDS")
	for _, d := range exp.Channels {
		use := "out"
		switch {
		case d.Use:
			use = "in"
		case d.Reason.Wait():
			use = "wait" // the policy waits for this channel rather than fail over
		}
		kind := d.Kind
		if kind == "" {
			kind = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Channel, kind, use, d.Reason, d.Sentence)
	}
	_ = tw.Flush()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
