package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/money"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

const maxIdempotencyKey = 255

// SendResponse is the 202 body of POST /v1/messages.
type SendResponse struct {
	ID     string   `json:"id"`
	Status string   `json:"status"`
	Policy string   `json:"policy"`
	Route  []string `json:"route"`
	// A scheduled message's due time and why it waits (schedule.go).
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	WaitReason    string     `json:"wait_reason,omitempty"`
}

func (s *Server) maxBody() int64 {
	if n := s.deps.Config.Server.MaxBodyBytes; n > 0 {
		return n
	}
	return 64 << 10
}

func (s *Server) sendMessage(c *echo.Context) error {
	if err := s.limitSend(c); err != nil {
		return err
	}
	data, err := readBody(c.Request(), s.maxBody())
	if err != nil {
		return err
	}
	req, err := DecodeSendRequest(data)
	if err != nil {
		return err
	}
	idemKey := c.Request().Header.Get("Idempotency-Key")
	if len(idemKey) > maxIdempotencyKey {
		return badRequest("invalid_header", "Idempotency-Key", "Idempotency-Key is longer than %d bytes", maxIdempotencyKey)
	}
	scope, _ := c.Get(ctxKeyName).(string)
	stored, replayed, err := s.accept(c.Request().Context(), scope, req, idemKey)
	if err != nil {
		return err
	}
	if replayed {
		c.Response().Header().Set("Idempotent-Replay", "true")
	}
	c.Response().Header().Set("Location", "/v1/messages/"+stored.ID)
	resp := SendResponse{ID: stored.ID, Status: string(store.StatusQueued), Policy: stored.Policy, Route: stored.Route}
	resp.Status, resp.NextAttemptAt, resp.WaitReason = s.scheduledAs(stored)
	return c.JSON(http.StatusAccepted, resp)
}

// accept routes and durably enqueues one validated send request on behalf
// of the API key named scope. It is the whole of a single send after
// decoding; POST /v1/messages and POST /v1/messages/batch both use it.
// replayed reports an idempotent replay (the stored message is returned).
// Every error is an *Error except unexpected internal ones.
func (s *Server) accept(ctx context.Context, scope string, req *SendRequest, idemKey string) (stored *store.Message, replayed bool, err error) {
	if err := req.checkCallbackAddress(s.cbPolicy.Load()); err != nil {
		return nil, false, err
	}
	phones, err := parsePhones(req.To)
	if err != nil {
		return nil, false, err
	}
	router := s.deps.Dispatch.Router()
	pol, err := router.SelectPolicy(req.Policy, phones.MatchInput(req.Tags))
	if err != nil {
		if errors.Is(err, routing.ErrUnknownPolicy) {
			return nil, false, unprocessable("unknown_policy", "policy", "no policy named %q is configured", req.Policy)
		}
		return nil, false, unprocessable("no_policy", "policy", "no policy matches the message's tags and country, and no \"default\" policy is configured")
	}
	if !hasAddressForRoute(router, pol.Route, req.To) {
		return nil, false, unprocessable("no_route", "to", "the message has no address for any channel of policy %q (route: %s)", pol.Name, strings.Join(pol.Route, ", "))
	}
	if err := checkCountries(pol, phones); err != nil {
		s.refused(pol.Name, err)
		return nil, false, err
	}

	now := s.now().UTC()
	ttl := sendTTL(pol, req)
	start, due, err := s.dueTime(router, pol, req, now, ttl)
	if err != nil {
		return nil, false, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, false, fmt.Errorf("new message id: %w", err)
	}
	m := &store.Message{
		ID:               id.String(),
		IdempotencyScope: scope,
		IdempotencyKey:   idemKey,
		RequestHash:      requestHash(req, idemKey),
		Policy:           pol.Name,
		Route:            append([]string(nil), pol.Route...),
		To:               req.To,
		Body:             req.Body,
		Subject:          req.Subject,
		HTML:             req.HTML,
		Tags:             req.Tags,
		Metadata:         req.Metadata,
		CallbackURL:      req.CallbackURL,
		Status:           store.StatusQueued,
		CreatedAt:        now,
		UpdatedAt:        now,
		ExpiresAt:        start.Add(ttl), // ttl counts from send_at
		NextAt:           due,
		Limit:            recipientLimit(pol, now),
	}
	if err := ctx.Err(); err != nil {
		// The client left before the write began (a batch's later items):
		// nothing is stored.
		return nil, false, &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the request ended before the message was stored; retry", RetryAfter: 1, cause: err}
	}
	// Hand the message straight to this process's dispatcher when it has
	// room: stored already leased to it, it skips the store's claim query.
	// Should this process die first, the lease expires and any instance
	// claims it.
	// A scheduled message is a row due later: nothing to hand over.
	handoff := !due.After(now) && s.deps.Handoff && s.deps.Dispatch.Reserve()
	if handoff {
		m.LeaseOwner = s.deps.Dispatch.Owner()
		m.LeaseUntil = now.Add(s.deps.Dispatch.Lease())
	}
	// A 202 is decided once, by the store, not by the client: the write
	// runs to its end even if the client goes away meanwhile (bounded by
	// its own timeout), so a message that was committed is always handed
	// to the dispatcher (or, unleased, found by its claim) and a retry with
	// the same Idempotency-Key replays it. With the request's context, a
	// client that hung up during the WAL sync left the message committed,
	// leased to this process and handed to nobody until the lease ran out.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.enqueueTimeout())
	defer cancel()
	stored, replayed, err = s.deps.Store.Enqueue(ectx, m)
	switch {
	case handoff && err != nil && errors.Is(err, context.DeadlineExceeded):
		// The store did not answer in time: the message may still be
		// committed, leased to this process. Find out before giving the
		// hand-off slot back.
		go s.settleHandoff(m.ID)
	case handoff && (err != nil || replayed):
		s.deps.Dispatch.Unreserve()
	}
	var limited *store.RecipientLimitError
	if errors.As(err, &limited) {
		e := recipientLimited(limited, pol, now)
		s.refused(pol.Name, e)
		return nil, false, e
	}
	if err != nil {
		// Not accepted: say so plainly so the client retries (with the same
		// Idempotency-Key, it cannot create a duplicate).
		// During a database outage every send fails: one line per
		// interval, with how many.
		s.enqueueLog.Log(s.log, slog.LevelError, "enqueue message: sends refused with 503", "err", err)
		return nil, false, &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the message store is unavailable; the message was not accepted, retry", RetryAfter: 1, cause: err}
	}
	if replayed {
		if stored.RequestHash != m.RequestHash {
			return nil, false, unprocessable("idempotency_mismatch", "Idempotency-Key", "this Idempotency-Key was already used with a different request body")
		}
	} else {
		if s.deps.Accepted != nil {
			s.deps.Accepted(stored.Policy)
		}
		if handoff {
			s.deps.Dispatch.Submit(stored)
		} else {
			s.deps.Dispatch.Wake()
		}
	}
	return stored, replayed, nil
}

// enqueueTimeout bounds a send's write to the store, which does not end
// with the request (see accept): long enough that only a store that is
// stuck reaches it.
func (s *Server) enqueueTimeout() time.Duration {
	if d := s.deps.EnqueueTimeout; d > 0 {
		return d
	}
	return 20 * time.Second
}

// settleHandoff resolves a hand-off whose enqueue timed out: a message
// committed anyway, still leased to this process, goes to the dispatcher;
// otherwise the reserved slot is given back. (A store write that has not
// started by its deadline is skipped, and one that had started commits
// within its batch, so a message not found by now was not stored.)
func (s *Server) settleHandoff(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), max(s.enqueueTimeout(), 5*time.Second))
	defer cancel()
	m, err := s.deps.Store.Get(ctx, id)
	if err == nil && m.LeaseOwner == s.deps.Dispatch.Owner() && !m.Status.Final() {
		m.History = nil
		s.log.Warn("a send timed out after its message was stored; dispatching it", "id", id)
		s.deps.Dispatch.Submit(m)
		return
	}
	s.deps.Dispatch.Unreserve()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		// Unknown either way: if it was stored, its lease runs out and the
		// claim loop takes it (flagged ambiguous).
		s.log.Warn("a send timed out; could not tell whether its message was stored", "id", id, "err", err)
	}
}

func hasAddressForRoute(r *routing.Router, route []string, to store.Recipient) bool {
	for _, name := range route {
		if l := r.Lane(name); l != nil && routing.AddressFor(to, l.Kind) != "" {
			return true
		}
	}
	return false
}

// requestHash identifies a request's meaning, not its bytes: the same
// fields in another order or spacing are the same request.
func requestHash(r *SendRequest, idemKey string) string {
	if idemKey == "" {
		return "" // nothing to compare it with: skip the work
	}
	b, _ := json.Marshal(r) // a struct of strings, slices and maps: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func callbackViews(cbs []store.Callback) []CallbackView {
	var out []CallbackView
	for _, cb := range cbs {
		var p store.CallbackPayload
		_ = json.Unmarshal(cb.Payload, &p) // written by the store: a bad one shows an empty status
		v := CallbackView{
			Status: string(p.Status), Delivery: cb.Status, Attempts: cb.Attempts, LastError: cb.LastError,
			CreatedAt: cb.CreatedAt.UTC(), FinishedAt: timePtr(cb.FinishedAt),
		}
		switch cb.Status {
		case store.CallbackPending:
			v.NextAttemptAt = timePtr(cb.NextAt)
		case store.CallbackDelivered:
			v.DeliveredAt = v.FinishedAt
		}
		out = append(out, v)
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func messageView(m *store.Message, withBody bool) MessageView {
	v := MessageView{
		ID: m.ID, Status: string(m.Status), Policy: m.Policy, Route: m.Route, Channel: m.Channel,
		Duplicate: m.Duplicate, To: m.To, Subject: m.Subject, Tags: m.Tags, Metadata: m.Metadata,
		CallbackURL: m.CallbackURL,
		CreatedAt:   m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(), ExpiresAt: m.ExpiresAt.UTC(),
		NextAttemptAt: timePtr(m.NextAt),
	}
	if withBody {
		v.Body, v.HTML = m.Body, m.HTML
	}
	// Once delivered, an earlier channel's error is history, told by the
	// attempts; as last_error it would read as if delivery had failed.
	if m.Status != store.StatusDelivered && m.Status != store.StatusRead {
		v.LastError = m.LastError
	}
	v.IsFallback = store.IsFallback(m.Channel, m.Route)
	var total money.Totals
	for _, a := range m.History {
		v.Attempts = append(v.Attempts, AttemptView{
			Seq: a.Seq, Channel: a.Channel, Status: string(a.Status), ProviderID: a.ProviderID,
			ErrorClass: a.ErrorClass, Error: a.Error, Info: a.Info, Sender: a.Sender, Reason: a.Reason.String(),
			Ambiguous: a.Ambiguous, Late: a.Late, StartedAt: a.StartedAt.UTC(),
			EndedAt: timePtr(a.EndedAt), DeliveredAt: timePtr(a.DeliveredAt), ReadAt: timePtr(a.ReadAt),
			Cost: costView(a.Cost),
		})
		total.Add(a.Cost.Currency, a.Cost.Micros)
	}
	v.Cost = total.Amounts()
	return v
}

// messageNotFound is the one answer for a message the caller may not see,
// whether it does not exist or another key sent it: a send key cannot tell
// the two apart, so it learns nothing about other apps' messages.
func messageNotFound(id string) *Error {
	return errorf(http.StatusNotFound, "not_found", "id", "no message with id %q", id)
}

// mayRead says whether the key that made the request may see m: read and
// admin keys see every message, a send key only those it sent. The sender
// is the API key's name, recorded as the message's idempotency scope
// whether or not the request had an Idempotency-Key.
func mayRead(c *echo.Context, m *store.Message) bool {
	if role, _ := c.Get(ctxKeyRole).(config.Role); role == config.RoleRead || role == config.RoleAdmin {
		return true
	}
	name, _ := c.Get(ctxKeyName).(string)
	return name != "" && m.IdempotencyScope == name
}

func (s *Server) getMessage(c *echo.Context) error {
	id := c.Param("id")
	if _, err := uuid.Parse(id); err != nil {
		return messageNotFound(id)
	}
	m, err := s.deps.Store.Get(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return messageNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("get message: %w", err)
	}
	if !mayRead(c, m) {
		return messageNotFound(id)
	}
	v := s.viewOf(m, true)
	if m.CallbackURL != "" {
		cbs, err := s.deps.Store.Callbacks(c.Request().Context(), m.ID)
		if err != nil {
			return fmt.Errorf("get message callbacks: %w", err)
		}
		v.Callbacks = callbackViews(cbs)
	}
	return c.JSON(http.StatusOK, v)
}

// ListResponse is a page of messages.
type ListResponse struct {
	Messages   []MessageView `json:"messages"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func (s *Server) listMessages(c *echo.Context) error {
	q := c.Request().URL.Query()
	p := store.ListParams{
		To:      strings.TrimPrefix(q.Get("to"), "whatsapp:"),
		Status:  store.Status(q.Get("status")),
		Channel: q.Get("channel"),
		Policy:  q.Get("policy"),
		Tag:     q.Get("tag"),
		Cursor:  q.Get("cursor"),
		Limit:   50,
	}
	if p.Status != "" && !p.Status.Valid() {
		return badRequest("invalid_query", "status", "unknown status %q (want scheduled, queued, sending, sent, delivered, read, failed, expired or canceled)", p.Status)
	}
	if p.Status == store.StatusScheduled || p.Status == store.StatusQueued {
		p.Now = s.now()
	}
	var err error
	if p.Since, err = queryTime(q, "since"); err != nil {
		return err
	}
	if p.Until, err = queryTime(q, "until"); err != nil {
		return err
	}
	if !p.Since.IsZero() && !p.Until.IsZero() && !p.Since.Before(p.Until) {
		return badRequest("invalid_query", "until", "until must be later than since")
	}
	if p.Limit, err = queryLimit(q, p.Limit); err != nil {
		return err
	}
	res, err := s.deps.Store.List(c.Request().Context(), p)
	if err != nil {
		return listError(err, "messages")
	}
	out := ListResponse{Messages: make([]MessageView, 0, len(res.Messages)), NextCursor: res.NextCursor}
	for _, m := range res.Messages {
		out.Messages = append(out.Messages, s.viewOf(m, false))
	}
	return c.JSON(http.StatusOK, out)
}
