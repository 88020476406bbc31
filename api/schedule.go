package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

// Scheduled sends and cancel. A scheduled message is an ordinary queued
// row whose due time (next_at) is later: send_at, moved on by the policy's
// quiet hours. The dispatcher's Claim takes it when that time comes, like
// any due message; nothing in memory waits for it, so restarts and a
// PostgreSQL failover keep it.

// maxScheduleAhead bounds send_at: a month is far enough for reminders,
// and a time years ahead is almost always a bug (a seconds/milliseconds
// mix-up), better refused than stored and forgotten.
const maxScheduleAhead = 31 * 24 * time.Hour

func (s *Server) registerSchedule(v1 *echo.Group) {
	send, admin := config.RoleSend, config.RoleAdmin
	v1.POST("/messages/:id/cancel", s.cancelMessage, s.keys.requireRole(send, admin))
}

// parseSendAt reads send_at (RFC 3339). Its bound needs the clock, so
// accept checks it (dueTime).
func (r *SendRequest) parseSendAt() error {
	if r.SendAt == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, r.SendAt)
	if err != nil {
		return unprocessable("invalid_send_at", "send_at", "send_at must be an RFC 3339 time with a zone, like 2026-11-23T18:00:00Z")
	}
	r.sendAt = t.UTC()
	return nil
}

// dueTime is when a new message first goes to a channel: now, or its
// send_at (one in the past means now), moved to the end of the policy's
// quiet hours for the recipient. start is when its ttl starts counting
// (the send_at). A message whose quiet hours outlast its ttl is due at its
// expiry, when the dispatcher ends it as expired.
func (s *Server) dueTime(r *routing.Router, pol *config.Policy, req *SendRequest, now time.Time, ttl time.Duration) (start, due time.Time, err error) {
	start = now
	if !req.sendAt.IsZero() {
		if req.sendAt.Sub(now) > maxScheduleAhead {
			return time.Time{}, time.Time{}, unprocessable("invalid_send_at", "send_at",
				"send_at is more than %d days ahead; schedule sends at most %d days in advance", maxScheduleAhead/(24*time.Hour), maxScheduleAhead/(24*time.Hour))
		}
		if req.sendAt.After(now) {
			start = req.sendAt
		}
	}
	due = r.QuietUntil(pol, req.To, start)
	if expires := start.Add(ttl); due.After(expires) {
		due = expires
	}
	return start, due, nil
}

// scheduledAs is the status a send's answer gives for stored, with its
// due time and wait reason when it is scheduled. A replay answers from the
// stored message, so it says what the first answer said until the time
// comes.
func (s *Server) scheduledAs(m *store.Message) (status string, due *time.Time, why string) {
	now := s.now()
	if !m.Scheduled(now) {
		return string(store.StatusQueued), nil, ""
	}
	return string(store.StatusScheduled), timePtr(m.NextAt), string(s.waitReason(m))
}

// waitReason says why scheduled m waits; the reason follows from its due
// time and its policy's quiet hours (routing.Router.QuietReason).
func (s *Server) waitReason(m *store.Message) reason.Reason {
	r := s.deps.Dispatch.Router()
	return r.QuietReason(r.Policy(m.Policy), m.To, m.NextAt)
}

// viewOf is messageView with the scheduled status, which is not stored.
func (s *Server) viewOf(m *store.Message, withBody bool) MessageView {
	v := messageView(m, withBody)
	if m.Scheduled(s.now()) {
		v.Status, v.WaitReason = string(store.StatusScheduled), string(s.waitReason(m))
	}
	return v
}

// cancelMessage is POST /v1/messages/{id}/cancel: a message no provider
// has had yet becomes canceled (final). The send key that sent it or an
// admin key may; for any other send key the message does not exist.
func (s *Server) cancelMessage(c *echo.Context) error {
	id := c.Param("id")
	if _, err := uuid.Parse(id); err != nil {
		return messageNotFound(id)
	}
	ctx := c.Request().Context()
	m, err := s.deps.Store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return messageNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("get message: %w", err)
	}
	if !mayRead(c, m) {
		return messageNotFound(id)
	}
	cs, ok := s.deps.Store.(store.Canceler)
	if !ok {
		return fmt.Errorf("cancel message: the store %T cannot cancel", s.deps.Store) // both stores can
	}
	// The write runs to its end even if the client leaves: a cancel the
	// store committed is answered the same way on a retry.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.enqueueTimeout())
	defer cancel()
	done, changed, err := cs.Cancel(wctx, id, s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return messageNotFound(id)
	case errors.Is(err, store.ErrNotCancelable):
		status := m.Status
		if cur, gerr := s.deps.Store.Get(ctx, id); gerr == nil {
			status = cur.Status
		}
		return errorf(http.StatusConflict, "not_cancelable", "id",
			"message %s is %s: a provider may already have it, so it can no longer be canceled", id, status)
	case err != nil:
		s.log.Error("cancel message", "id", id, "err", err)
		return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the message store is unavailable; nothing was canceled, retry", RetryAfter: 1, cause: err}
	}
	if changed && done.CallbackURL != "" && s.deps.CallbackDue != nil {
		s.deps.CallbackDue()
	}
	return c.JSON(http.StatusOK, s.viewOf(done, true))
}

// explainWhen adds to an explanation when the message would go out, if
// that is not now, and why: the same dueTime a send gets.
func (s *Server) explainWhen(r *routing.Router, req *SendRequest, resp *ExplainResponse) error {
	pol := r.Policy(resp.Policy)
	if pol == nil {
		return nil
	}
	now := s.now().UTC()
	_, due, err := s.dueTime(r, pol, req, now, sendTTL(pol, req))
	if err != nil || !due.After(now) {
		return err
	}
	why, detail := reason.SendAt, "send_at "+due.Format(time.RFC3339)
	if r.QuietReason(pol, req.To, due) == reason.QuietHours {
		why, detail = reason.QuietHours, fmt.Sprintf("quiet hours %s end at %s", pol.QuietHours, due.Format(time.RFC3339))
	}
	channel := resp.Channel
	if channel == "" && len(resp.Route) > 0 {
		channel = resp.Route[0]
	}
	resp.SendsAt, resp.WaitReason = timePtr(due), string(why)
	resp.Wait = why.Sentence(reason.Facts{Channel: channel, Error: detail})
	return nil
}

// sendTTL is a send's ttl: its own, else its policy's, else 24h.
func sendTTL(pol *config.Policy, req *SendRequest) time.Duration {
	switch {
	case req.ttl > 0:
		return req.ttl
	case pol.TTL > 0:
		return pol.TTL.D()
	}
	return 24 * time.Hour
}
