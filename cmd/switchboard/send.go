package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	server string
	keyEnv string
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", envOr("SWITCHBOARD_URL", "http://127.0.0.1:8080"), "gateway base URL (env SWITCHBOARD_URL)")
	fs.StringVar(&f.keyEnv, "key-env", "SWITCHBOARD_API_KEY", "name of the environment variable holding the API key")
}

func (f *clientFlags) client() (*client.Client, error) {
	key := os.Getenv(f.keyEnv)
	if key == "" {
		return nil, fmt.Errorf("%w: set %s to an API key (keys are never taken as flags, so they stay out of shell history)", errUsage, f.keyEnv)
	}
	return client.New(f.server, key), nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func cmdSend(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	var req client.SendRequest
	fs.StringVar(&req.To.Phone, "phone", "", "recipient phone, E.164 (+15551234567)")
	fs.StringVar(&req.To.WhatsApp, "whatsapp", "", "recipient WhatsApp number, E.164")
	fs.StringVar(&req.To.Email, "email", "", "recipient email address")
	fs.StringVar(&req.To.Telegram, "telegram", "", "recipient Telegram chat id")
	fs.StringVar(&req.Body, "body", "", "message text (required)")
	fs.StringVar(&req.Subject, "subject", "", "email subject")
	fs.StringVar(&req.Policy, "policy", "", "routing policy (default: chosen by tags)")
	tags := fs.String("tags", "", "comma-separated tags, e.g. otp")
	fs.StringVar(&req.TTL, "ttl", "", "time to live, e.g. 10m")
	idem := fs.String("idempotency-key", "", "Idempotency-Key header")
	asJSON := fs.Bool("json", false, "print the raw JSON response")
	sendAt := fs.String("send-at", "", "send later: an RFC 3339 time, e.g. 2026-11-23T18:00:00Z")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := parseSendAt(*sendAt, &req); err != nil {
		return err
	}
	if *tags != "" {
		for _, t := range strings.Split(*tags, ",") {
			if t = strings.TrimSpace(t); t != "" {
				req.Tags = append(req.Tags, t)
			}
		}
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	res, err := c.Send(ctx, &req, *idem)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	replay := ""
	if res.Replayed {
		replay = " (idempotent replay)"
	}
	fmt.Fprintf(stdout, "accepted %s%s: policy %s, route %s\n", res.ID, replay, res.Policy, strings.Join(res.Route, " -> "))
	if res.Status == string(store.StatusScheduled) && res.NextAttemptAt != nil {
		fmt.Fprintf(stdout, "scheduled: %s\n", dueLine(*res.NextAttemptAt, res.WaitReason))
	}
	return nil
}

func cmdStatus(ctx context.Context, args []string, stdout io.Writer) error {
	return messageCommand(ctx, "status", args, stdout, (*client.Client).Get)
}

// messageCommand is a command that takes one message id, calls the API
// with it and prints the message it answers (status, cancel).
func messageCommand(ctx context.Context, name string, args []string, stdout io.Writer,
	call func(*client.Client, context.Context, string) (*client.Message, error)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want one message id", errUsage)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	m, err := call(c, ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	printMessage(stdout, m)
	return nil
}

func printMessage(w io.Writer, m *client.Message) {
	fmt.Fprintf(w, "message %s\n  status:  %s", m.ID, m.Status)
	if m.Channel != "" {
		fmt.Fprintf(w, " via %s", m.Channel)
		if m.IsFallback {
			fmt.Fprint(w, " (fallback)")
		}
	}
	if m.Duplicate {
		fmt.Fprint(w, " (delivered more than once)")
	}
	fmt.Fprintf(w, "\n  policy:  %s, route %s\n  created: %s\n", m.Policy, strings.Join(m.Route, " -> "), m.CreatedAt.Local().Format(time.RFC3339))
	printDue(w, m)
	if m.LastError != "" {
		fmt.Fprintf(w, "  error:   %s\n", m.LastError)
	}
	if len(m.Cost) > 0 {
		fmt.Fprintf(w, "  cost:    %s\n", costLine(m))
	}
	if len(m.Attempts) == 0 {
		return
	}
	fmt.Fprintln(w, "  attempts:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    #\tCHANNEL\tSTATUS\tAT\tDETAIL")
	for _, a := range m.Attempts {
		detail := a.Error
		if a.FailoverReason != "" {
			// The support sentence says the error where it matters; the
			// reason's name stays for scripts and searches.
			why := reason.Parse(a.FailoverReason)
			msg := strings.TrimSuffix(a.Error, " ("+a.ErrorClass+")")
			detail = "moved on: " + why.Sentence(reason.Facts{Channel: a.Channel, Error: msg, ErrorClass: a.ErrorClass,
				Skipped: a.Status == string(store.AttemptSkipped)}) + " (" + why.String() + ")"
		}
		if a.Ambiguous {
			detail += " (possible duplicate)"
		}
		if a.Late {
			detail += " (late receipt)"
		}
		if a.Cost != nil {
			detail = strings.TrimSpace(detail + " [" + a.Cost.Amount + " " + a.Cost.Currency + " " + a.Cost.Source + "]")
		}
		if a.Sender != "" {
			detail = strings.TrimSpace(detail + " (sender " + a.Sender + ")")
		}
		fmt.Fprintf(tw, "    %d\t%s\t%s\t%s\t%s\n", a.Seq, a.Channel, a.Status, a.StartedAt.Local().Format("15:04:05.000"), detail)
	}
	tw.Flush()
}

// costLine is a message's total cost, per currency: "0.0178 USD" or
// "0.0079 USD + 0.0050 EUR" (no exchange rates).
func costLine(m *client.Message) string {
	parts := make([]string, 0, len(m.Cost))
	for _, a := range m.Cost {
		parts = append(parts, a.Amount+" "+a.Currency)
	}
	return strings.Join(parts, " + ")
}
