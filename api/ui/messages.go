package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/pii"
	"github.com/switchboard-gw/switchboard/store"
)

// ---- messages ----

var uiStatuses = []store.Status{store.StatusScheduled, store.StatusQueued, store.StatusSending, store.StatusSent,
	store.StatusDelivered, store.StatusRead, store.StatusFailed, store.StatusExpired, store.StatusCanceled}

type uiMessagesData struct {
	Q, Status, Channel, Policy, Tag, From, To, TZO string
	Statuses                                       []store.Status
	Channels, Policies                             []string
	Error                                          string
	Rows                                           []uiRow
	NextURL, FirstURL                              string
	Filtered                                       bool
}

type uiRow struct {
	ID, Status, Policy, Channel string
	Fallback, Duplicate         bool
	To                          []uiAddr
	Tags                        []string
	At                          time.Time
}

type uiAddr struct{ Kind, Value string }

func maskedAddrs(to store.Recipient) []uiAddr {
	var out []uiAddr
	if to.Phone != "" {
		out = append(out, uiAddr{"SMS", pii.Phone(to.Phone)})
	}
	if to.WhatsApp != "" && to.WhatsApp != to.Phone {
		out = append(out, uiAddr{"WhatsApp", pii.Phone(to.WhatsApp)})
	}
	if to.Email != "" {
		out = append(out, uiAddr{"Email", pii.Email(to.Email)})
	}
	if to.Telegram != "" {
		out = append(out, uiAddr{"Telegram", pii.ID(to.Telegram)})
	}
	return out
}

// normalizeRecipient turns what an agent pastes into the stored form: a
// WhatsApp or tel: prefix goes, and a phone number loses its spacing.
func normalizeRecipient(q string) string {
	q = strings.TrimSpace(q)
	for _, p := range []string{"whatsapp:", "tel:", "mailto:"} {
		if len(q) > len(p) && strings.EqualFold(q[:len(p)], p) {
			q = q[len(p):]
		}
	}
	if strings.ContainsAny(q, "@") {
		return q
	}
	digits, phoneish := 0, true
	for _, r := range q {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' || r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			phoneish = false
		}
	}
	if phoneish && digits > 0 {
		return strings.Map(func(r rune) rune {
			if r == '+' || (r >= '0' && r <= '9') {
				return r
			}
			return -1
		}, q)
	}
	return q
}

// parseLocal reads a datetime-local value in the viewer's offset (minutes
// east of UTC, sent by the script; UTC without it).
func parseLocal(v, tzo string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	off := 0
	if tzo != "" {
		if _, err := fmt.Sscanf(tzo, "%d", &off); err != nil || off < -14*60 || off > 14*60 {
			off = 0
		}
	}
	loc := time.FixedZone("viewer", off*60)
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time", v)
}

func (s *dash) uiMessages(c *echo.Context) error {
	q := c.Request().URL.Query()
	router := s.b.Router()
	d := uiMessagesData{
		Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Channel: q.Get("channel"),
		Policy: q.Get("policy"), Tag: strings.TrimSpace(q.Get("tag")), From: q.Get("from"), To: q.Get("to"),
		TZO: q.Get("tzo"), Statuses: uiStatuses,
	}
	for _, l := range router.Lanes() {
		d.Channels = append(d.Channels, l.Name)
	}
	for _, p := range s.b.Config().Policies {
		d.Policies = append(d.Policies, p.Name)
	}
	p := store.ListParams{
		Status: store.Status(d.Status), Channel: d.Channel, Policy: d.Policy, Tag: d.Tag,
		Cursor: q.Get("cursor"), Limit: 50,
	}
	// A message id jumps straight to the message.
	if id, err := uuid.Parse(d.Q); err == nil && len(d.Q) == 36 {
		_, err := s.b.Store().Get(c.Request().Context(), id.String())
		switch {
		case err == nil:
			return c.Redirect(http.StatusSeeOther, "/ui/messages/"+id.String())
		case errors.Is(err, store.ErrNotFound):
			d.Error = "No message has the id " + d.Q + "."
		default:
			return fmt.Errorf("get message: %w", err)
		}
	} else if d.Q != "" {
		p.To = normalizeRecipient(d.Q)
	}
	if p.Status != "" && !p.Status.Valid() {
		d.Error = "Unknown status " + d.Status + "."
	}
	if p.Status == store.StatusScheduled || p.Status == store.StatusQueued {
		p.Now = s.now() // scheduled is queued with a due time after now
	}
	var err error
	if p.Since, err = parseLocal(d.From, d.TZO); err != nil {
		d.Error = "From: " + err.Error()
	}
	if p.Until, err = parseLocal(d.To, d.TZO); err != nil {
		d.Error = "To: " + err.Error()
	}
	d.Filtered = d.Q != "" || d.Status != "" || d.Channel != "" || d.Policy != "" || d.Tag != "" || d.From != "" || d.To != ""
	page := s.page(c, "Messages", "messages", &d)
	if p.Cursor == "" {
		page.LiveURL = c.Request().URL.RequestURI()
	}
	if d.Error != "" {
		return s.render(c, http.StatusOK, "messages", page)
	}
	res, err := s.b.Store().List(c.Request().Context(), p)
	if errors.Is(err, store.ErrInvalidCursor) {
		d.Error = "That page link is not valid any more; showing the newest messages."
		p.Cursor = ""
		res, err = s.b.Store().List(c.Request().Context(), p)
	}
	if err != nil {
		return fmt.Errorf("list messages: %w", err)
	}
	for _, m := range res.Messages {
		v := s.b.MessageView(m, false)
		d.Rows = append(d.Rows, uiRow{ID: m.ID, Status: v.Status, Policy: v.Policy, Channel: v.Channel,
			Fallback: v.IsFallback, Duplicate: v.Duplicate, To: maskedAddrs(m.To), Tags: m.Tags, At: v.CreatedAt})
	}
	if res.NextCursor != "" || p.Cursor != "" {
		u := *c.Request().URL
		qq := u.Query()
		qq.Del("fragment")
		qq.Del("cursor")
		u.RawQuery = qq.Encode()
		if p.Cursor != "" {
			d.FirstURL = u.RequestURI()
		}
		if res.NextCursor != "" {
			qq.Set("cursor", res.NextCursor)
			u.RawQuery = qq.Encode()
			d.NextURL = u.RequestURI()
		}
	}
	return s.render(c, http.StatusOK, "messages", page)
}

// ---- one message ----

type uiMessageData struct {
	M         MessageView
	Wait      string // why a scheduled message waits, in words
	CanCancel bool   // scheduled or queued: the cancel button
	Delivered string // channel that took it
	Steps     []uiStep
	Route     []uiRouteHop
	Late      bool
	Dups      []string // channels that delivered it
	Callbacks []store.Callback
	OptOuts   []store.Suppression // the recipient's entries on the opt-out list (optouts.go)
	Replies   []uiReply           // what the recipient sent back since (replies.go)
}

type uiRouteHop struct {
	Channel, Label string
	Used, Took     bool
}

// uiStep is one attempt on the timeline, with the sentence that explains
// what happened after it.
type uiStep struct {
	A      AttemptView
	Label  string // the channel, in words ("WhatsApp")
	Why    string // why the route moved on, in words; "" if it did not
	Retry  bool   // a transient failure retried on the same channel
	Events []uiEvent
}

type uiEvent struct {
	Name string
	At   *time.Time
}

func (s *dash) uiMessage(c *echo.Context) error {
	id := c.Param("id")
	if _, err := uuid.Parse(id); err != nil {
		return s.uiError(c, http.StatusNotFound, "Not found", "No message has the id "+id+".")
	}
	m, err := s.b.Store().Get(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return s.uiError(c, http.StatusNotFound, "Not found", "No message has the id "+id+".")
	}
	if err != nil {
		return fmt.Errorf("get message: %w", err)
	}
	v := s.b.MessageView(m, true)
	d := uiMessageData{M: v}
	s.scheduleFacts(&d, m)
	pol := s.b.Router().Policy(m.Policy)
	used := map[string]bool{}
	for i, a := range v.Attempts {
		// "sim: provider unavailable (503) (transient)": the class is
		// shown as its own tag.
		a.Error = strings.TrimSuffix(a.Error, " ("+a.ErrorClass+")")
		st := uiStep{A: a, Label: s.channelLabel(a.Channel)}
		used[a.Channel] = true
		var next *AttemptView
		if i+1 < len(v.Attempts) {
			next = &v.Attempts[i+1]
		}
		if a.Reason != "" {
			st.Why = s.failoverReason(a, next, pol, m.Status)
		} else if a.Status == string(store.AttemptFailed) && next != nil && next.Channel == a.Channel {
			st.Retry = true
			st.Why = fmt.Sprintf("%s had a temporary problem (%s), so we tried it again.", st.Label, orText(a.Error, "no details"))
		}
		st.Events = []uiEvent{{"Started", &a.StartedAt}}
		if a.EndedAt != nil {
			st.Events = append(st.Events, uiEvent{"Ended", a.EndedAt})
		}
		if a.DeliveredAt != nil {
			name := "Delivered"
			if a.Status == string(store.AttemptRead) {
				name = "Delivered (then read)"
			}
			st.Events = append(st.Events, uiEvent{name, a.DeliveredAt})
		}
		if a.ReadAt != nil {
			st.Events = append(st.Events, uiEvent{"Read", a.ReadAt})
		}
		if a.Late {
			d.Late = true
		}
		if a.Status == string(store.AttemptDelivered) || a.Status == string(store.AttemptRead) {
			d.Dups = append(d.Dups, st.Label)
		}
		d.Steps = append(d.Steps, st)
	}
	// Two delivered attempts are no duplicate when the route moved on
	// from an unread one on purpose (no_read): the store says which.
	if len(d.Dups) < 2 || !v.Duplicate {
		d.Dups = nil
	}
	for _, ch := range v.Route {
		d.Route = append(d.Route, uiRouteHop{Channel: ch, Label: s.channelLabel(ch), Used: used[ch], Took: ch == v.Channel && (v.Status == "delivered" || v.Status == "read")})
	}
	if v.Channel != "" {
		d.Delivered = s.channelLabel(v.Channel)
	}
	// Status callbacks to the business app.
	if d.Callbacks, err = s.b.Store().Callbacks(c.Request().Context(), m.ID); err != nil {
		s.log.Warn("dashboard: list callbacks", "err", err)
	}
	d.OptOuts = s.optOuts(c.Request().Context(), m.To)
	d.Replies = s.replies(c.Request().Context(), m)
	page := s.page(c, "Message "+shortID(m.ID), "messages", &d)
	page.LiveURL = c.Request().URL.RequestURI()
	return s.render(c, http.StatusOK, "message", page)
}

// shortID is the end of an id: UUIDv7 ids start with their time, so
// messages of the same minute share a prefix but not an ending.
func shortID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}
