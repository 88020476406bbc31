package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/store"
)

// ---- channels ----

// uiStatsWindow is the span of the channel view's numbers.
const uiStatsWindow = 5 * time.Minute

type uiChannelsData struct {
	Channels  []uiChannel
	Failovers []uiFailover
	Window    string
	NoStats   bool
	Error     string
}

type uiChannel struct {
	V     ChannelView
	Label string
	Stats uiStat
}

type uiStat struct {
	Calls, Accepted, Failed, Skipped, Delivered, Failovers int
	Rate                                                   string // "98%" or "—"
	P50, P95                                               string
}

type uiFailover struct {
	At        time.Time
	MessageID string
	Text      string
}

type uiChannelStats struct {
	at        time.Time
	byChannel map[string]uiStat
	failovers []uiFailover
}

// channelStats reads the last minutes' attempts from the store (shared by
// every instance, so the numbers are the gateway's, not this process's),
// cached for a few seconds so many open dashboards cost one query.
func (s *dash) channelStats(c *echo.Context) (*uiChannelStats, bool) {
	now := s.now()
	s.ui.statsMu.Lock()
	defer s.ui.statsMu.Unlock()
	if st := s.ui.stats; st != nil && now.Sub(st.at) < 5*time.Second && !now.Before(st.at) {
		return st, true
	}
	atts, err := s.b.Store().RecentAttempts(c.Request().Context(), now.Add(-3*uiStatsWindow), now.Add(-uiStatsWindow), 50000)
	if err != nil {
		s.log.Warn("dashboard: recent attempts", "err", err)
		return nil, false
	}
	st := &uiChannelStats{at: now, byChannel: map[string]uiStat{}}
	lat := map[string][]time.Duration{}
	for i, a := range atts {
		x := st.byChannel[a.Channel]
		switch a.Status {
		case store.AttemptSkipped:
			x.Skipped++
		case store.AttemptFailed:
			x.Calls++
			x.Failed++
		default:
			x.Calls++
			x.Accepted++
		}
		if !a.DeliveredAt.IsZero() {
			x.Delivered++
			lat[a.Channel] = append(lat[a.Channel], a.DeliveredAt.Sub(a.StartedAt))
		}
		if a.Reason.Failover() {
			x.Failovers++
			var next *AttemptView
			if i+1 < len(atts) && atts[i+1].MessageID == a.MessageID {
				n := attemptView(atts[i+1])
				next = &n
			}
			at := a.EndedAt
			if at.IsZero() {
				at = a.StartedAt
			}
			st.failovers = append(st.failovers, uiFailover{At: at.UTC(), MessageID: a.MessageID,
				Text: s.failoverReason(attemptView(a), next, nil, "")})
		}
		st.byChannel[a.Channel] = x
	}
	for ch, x := range st.byChannel {
		x.Rate = "—"
		if x.Calls > 0 {
			x.Rate = fmt.Sprintf("%.0f%%", 100*float64(x.Accepted)/float64(x.Calls))
		}
		x.P50, x.P95 = "—", "—"
		if ds := lat[ch]; len(ds) > 0 {
			slices.Sort(ds)
			x.P50 = roundDur(ds[len(ds)/2])
			x.P95 = roundDur(ds[min(len(ds)-1, len(ds)*95/100)])
		}
		st.byChannel[ch] = x
	}
	sort.Slice(st.failovers, func(i, j int) bool { return st.failovers[i].At.After(st.failovers[j].At) })
	if len(st.failovers) > 20 {
		st.failovers = st.failovers[:20]
	}
	s.ui.stats = st
	return st, true
}

func attemptView(a store.Attempt) AttemptView {
	return AttemptView{Seq: a.Seq, Channel: a.Channel, Status: string(a.Status), ProviderID: a.ProviderID,
		ErrorClass: a.ErrorClass, Error: a.Error, Info: a.Info, Sender: a.Sender, Reason: a.Reason.String(), Ambiguous: a.Ambiguous, Late: a.Late,
		StartedAt: a.StartedAt.UTC(), EndedAt: timePtr(a.EndedAt), DeliveredAt: timePtr(a.DeliveredAt), ReadAt: timePtr(a.ReadAt)}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func roundDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func (s *dash) uiChannels(c *echo.Context) error {
	d := uiChannelsData{Window: "last " + uiStatsWindow.String(), Error: c.QueryParam("error")}
	d.Window = strings.TrimSuffix(d.Window, "0s")
	stats, ok := s.channelStats(c)
	d.NoStats = !ok
	views, err := s.b.ChannelViews(c.Request().Context())
	if err != nil {
		return err
	}
	for _, v := range views {
		ch := uiChannel{V: v, Label: s.channelLabel(v.Name)}
		if ok {
			ch.Stats = stats.byChannel[v.Name]
			if ch.Stats.Rate == "" {
				ch.Stats.Rate, ch.Stats.P50, ch.Stats.P95 = "—", "—", "—"
			}
		}
		d.Channels = append(d.Channels, ch)
	}
	if ok {
		d.Failovers = stats.failovers
	}
	page := s.page(c, "Channels", "channels", &d)
	page.LiveURL = "/ui/channels"
	return s.render(c, http.StatusOK, "channels", page)
}

func (s *dash) uiOverride(disable bool) echo.HandlerFunc {
	return func(c *echo.Context) error {
		name := c.Param("name")
		l := s.b.Router().Lane(name)
		if l == nil {
			return s.uiError(c, http.StatusNotFound, "Not found", "No channel named "+name+" is configured.")
		}
		sess := uiSess(c)
		if disable {
			reason := strings.TrimSpace(c.FormValue("reason"))
			if reason == "" {
				return c.Redirect(http.StatusSeeOther, "/ui/channels?error="+url.QueryEscape("Say why you are disabling "+name+"."))
			}
			if len(reason) > 200 {
				reason = reason[:200]
			}
			// The same path as the API: stored first (so it survives a
			// restart and reaches every instance), then applied here.
			at := s.now()
			reason += " (" + sess.keyName + ", dashboard)"
			if err := s.b.Disable(c, l.Name, reason, sess.keyName, at); err != nil {
				return err
			}
			s.log.Warn("channel disabled by ops", "channel", l.Name, "reason", reason, "key", sess.keyName, "via", "dashboard")
		} else {
			if err := s.b.Enable(c, l.Name, sess.keyName, s.now()); err != nil {
				return err
			}
			s.log.Warn("channel enabled by ops", "channel", l.Name, "key", sess.keyName, "via", "dashboard")
		}
		return c.Redirect(http.StatusSeeOther, "/ui/channels")
	}
}
