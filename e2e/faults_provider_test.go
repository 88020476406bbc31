package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
)

// providerHang: under steady load, the route's first channel (whatsapp, a
// sim in mode timeout) starts to hang: it takes each request and never
// answers, so each send ends at the channel's send_timeout (1 s) without
// knowing whether the provider took it. Half the messages are under policy
// otp (on_ambiguous: failover, the default), half under otp-assume-sent
// (on_ambiguous: assume_sent). A third of the way in the provider hangs, two
// thirds in it answers again. Every message must be delivered (sms takes
// over), each send cut off flagged ambiguous and handled as its policy
// says: failover moves on at once, assume_sent counts it sent and moves on
// at the 2 s receipt deadline. Time to recover: from the provider
// answering again until whatsapp delivers a message again (its breaker
// half-opens after open_for, 5 s here, and its probes recover).
func providerHang(t *testing.T, size faultSize) faultResult {
	cfg := fastConfig()
	for _, ch := range cfg.Channels {
		ch.Latency, ch.ReceiptDelay, ch.ProbeInterval = "2ms", "20ms", "1s"
	}
	cfg.channel("whatsapp").SendTimeout = "1s"
	cfg.BreakerOpenFor = "5s"
	cfg.Poll = "50ms"
	cfg.ReceiptTimeout = map[string]string{"whatsapp": "2s", "sms": "2s", "email": "2s"}
	g := startGateway(t, cfg)

	// Paced, so the provider hangs under load for a while: 6 s of posting
	// short, 30 s long.
	const workers = 16
	span := 6 * time.Second
	if size.long {
		span = 30 * time.Second
	}
	p := newPosterOf(t, []*gateway{g}, workers, 4_000_000, func(n int) *client.SendRequest {
		req := otp(n)
		if n%2 == 0 {
			req.Tags = []string{"otp-assume-sent"}
		}
		return req
	}, span*workers/time.Duration(size.messages))
	third := int64(size.messages / 3)
	p.waitAccepted(t, third, "a third of the posts, before the hang")
	g.setSim(t, "whatsapp", "timeout")
	hungAt := time.Now()
	p.waitAccepted(t, third, "a third of the posts, while whatsapp hangs")
	g.setSim(t, "whatsapp", "up")
	repairAt := time.Now()
	p.waitAccepted(t, int64(size.messages)-2*third, "the rest of the posts, after the repair")
	accepted := p.finish()
	require.Empty(t, p.bad, "every send answered 202: a hung provider does not hold the API")

	ids := keys(accepted)
	final := waitAllFinal(t, g, ids)
	r := account(final, ids)
	require.Equal(t, r.accepted, r.delivered, "every message delivered: sms took over")

	ambiguous := map[string]int{} // policy -> ambiguous attempts
	var back time.Time            // the first whatsapp send delivered after the repair
	for _, id := range ids {
		m := final[id]
		for i, a := range m.Attempts {
			if a.Channel == "whatsapp" && a.Status == "delivered" && a.StartedAt.After(repairAt) && (back.IsZero() || a.StartedAt.Before(back)) {
				back = a.StartedAt
			}
			if !a.Ambiguous {
				continue
			}
			ambiguous[m.Policy]++
			require.Equal(t, "whatsapp", a.Channel, "%s: only the hung channel's sends are ambiguous: %v", id, steps(m))
			require.Equal(t, "ambiguous", a.ErrorClass, "%s: %v", id, steps(m))
			require.Less(t, i, len(m.Attempts)-1, "%s: the route moved on after the ambiguous send: %v", id, steps(m))
			switch m.Policy {
			case "otp":
				require.Equal(t, "failed", a.Status, "%s: on_ambiguous failover: %v", id, steps(m))
				require.Equal(t, "error", a.FailoverReason, "%s: failed over at once: %v", id, steps(m))
			case "otp-assume-sent":
				require.Equal(t, "sent", a.Status, "%s: on_ambiguous assume_sent: %v", id, steps(m))
				require.Contains(t, a.Info, "assumed sent", "%s: %v", id, steps(m))
				require.Contains(t, []string{"no_receipt", "silent"}, a.FailoverReason, "%s: failed over when no receipt came: %v", id, steps(m))
			default:
				t.Fatalf("%s: unexpected policy %s", id, m.Policy)
			}
		}
	}
	require.Positive(t, ambiguous["otp"], "the hang caught sends in flight under policy otp")
	require.Positive(t, ambiguous["otp-assume-sent"], "the hang caught sends in flight under policy otp-assume-sent")

	// Until whatsapp delivers again, one more message at a time.
	for n := 4_900_000; back.IsZero(); n++ {
		require.Less(t, time.Since(repairAt), time.Minute, "whatsapp delivers again within a minute of the repair")
		id := g.send(t, otp(n))
		m := g.waitFinal(t, id)
		r.accepted++
		if m.Status == "delivered" {
			r.delivered++
		}
		for _, a := range m.Attempts {
			if a.Channel == "whatsapp" && a.Status == "delivered" {
				back = a.StartedAt
			}
		}
	}
	r.recover = back.Sub(repairAt)
	r.note = fmt.Sprintf("hung %s; %d sends cut off flagged ambiguous (on_ambiguous failover %d, assume_sent %d)",
		repairAt.Sub(hungAt).Round(100*time.Millisecond), ambiguous["otp"]+ambiguous["otp-assume-sent"], ambiguous["otp"], ambiguous["otp-assume-sent"])
	return r
}
