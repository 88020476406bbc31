package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/health"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

// simulator is implemented by sim channels, whose mode ops and drills
// change at run time.
type simulator interface {
	SetMode(mode string) error
	Mode() string
}

func receiptsView(st routing.ReceiptStats) *ReceiptsView {
	v := &ReceiptsView{
		WindowSeconds: st.Window.Seconds(), Sends: st.Sends, Confirmed: st.Confirmed,
		Receipts: st.Receipts, Late: st.Late, Pending: st.Pending,
		CanariesConfirmed: st.CanaryRun, RecoverAfter: st.RecoverAfter,
	}
	if r, ok := st.Ratio(); ok {
		v.Ratio = &r
	}
	if st.Receipts > 0 {
		ms := float64(st.P90.Microseconds()) / 1000
		v.P90MS = &ms
	}
	if !st.RecoveredAt.IsZero() {
		at := st.RecoveredAt.UTC()
		v.RecoveredAt = &at
	}
	return v
}

func (s *Server) channelView(l *routing.Lane) ChannelView {
	v := ChannelView{Name: l.Name, Type: l.Config.Type, Kind: string(l.Kind), Breaker: l.BreakerState(), State: string(health.Healthy)}
	if st, ok := s.deps.Health.Status(l.Name); ok {
		v.State = string(st.State)
		if st.State == health.Disabled {
			v.DisabledReason = st.DisabledReason
			v.DisabledBy = st.DisabledBy
			if !st.DisabledAt.IsZero() {
				at := st.DisabledAt.UTC()
				v.DisabledAt = &at
			}
		}
		if !st.LastProbeAt.IsZero() {
			v.LastProbe = &ProbeView{
				At: st.LastProbeAt.UTC(), OK: st.LastProbeError == "", Error: st.LastProbeError,
				LatencyMS: float64(st.LastProbeLatency.Microseconds()) / 1000,
			}
		}
	}
	// A channel whose probes pass but whose breaker is not closed is not
	// fully healthy: say so rather than show two contradicting fields.
	if v.State == string(health.Healthy) && v.Breaker != "closed" {
		v.State = string(health.Degraded)
	}
	if sim, ok := l.Channel.(simulator); ok {
		v.SimMode = sim.Mode()
	}
	if rh := l.ReceiptHealth(); rh != nil && !rh.Settings().Disabled {
		st := rh.Stats(s.now())
		if st.Silent {
			since := st.SilentSince.UTC()
			v.SilentSince = &since
			// Down and disabled say more; silent beats degraded.
			if v.State == string(health.Healthy) || v.State == string(health.Degraded) {
				v.State = "silent"
			}
		}
		if st.Silent || st.Sends > 0 || st.Pending > 0 || s.deps.Dispatch.Router().ExpectsReceipts(l.Name) {
			v.Receipts = receiptsView(st)
		}
	}
	return v
}

func (s *Server) listChannels(c *echo.Context) error {
	out, err := s.channelViews(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"channels": out})
}

// channelViews are every channel's views in config order, each with its
// spend today (GET /v1/channels, the dashboard's channels page).
func (s *Server) channelViews(ctx context.Context) ([]ChannelView, error) {
	lanes := s.deps.Dispatch.Router().Lanes()
	day, spend, err := s.todaySpend(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ChannelView, 0, len(lanes))
	for _, l := range lanes {
		v := s.channelView(l)
		v.Spend = spendView(l, day, spend[l.Name])
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) lane(c *echo.Context) (*routing.Lane, error) {
	name := c.Param("name")
	l := s.deps.Dispatch.Router().Lane(name)
	if l == nil {
		return nil, errorf(http.StatusNotFound, "unknown_channel", "name", "no channel named %q is configured", name)
	}
	return l, nil
}

// overrideRequest is the optional body of disable/enable.
type overrideRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) disableChannel(c *echo.Context) error {
	l, err := s.lane(c)
	if err != nil {
		return err
	}
	var req overrideRequest
	if err := s.decodeOptional(c, &req); err != nil {
		return err
	}
	reason := strings.TrimSpace(req.Reason)
	if reason == "" {
		reason = "disabled by ops"
	}
	key, _ := c.Get(ctxKeyName).(string)
	at := s.now()
	if err := s.saveOverride(c, l.Name, true, reason, key, at); err != nil {
		return err
	}
	if err := s.deps.Health.DisableBy(l.Name, reason, key, at); err != nil {
		return err
	}
	s.log.Warn("channel disabled by ops", "channel", l.Name, "reason", reason, "key", key)
	return c.JSON(http.StatusOK, s.channelView(l))
}

func (s *Server) enableChannel(c *echo.Context) error {
	l, err := s.lane(c)
	if err != nil {
		return err
	}
	key, _ := c.Get(ctxKeyName).(string)
	if err := s.saveOverride(c, l.Name, false, "", key, s.now()); err != nil {
		return err
	}
	if err := s.deps.Health.Enable(l.Name); err != nil {
		return err
	}
	s.log.Warn("channel enabled by ops", "channel", l.Name, "key", key)
	return c.JSON(http.StatusOK, s.channelView(l))
}

// saveOverride records an ops override in the store before it takes
// effect here: an override the store did not take would be lost at the
// next restart and unseen by other instances.
func (s *Server) saveOverride(c *echo.Context, channel string, disabled bool, reason, by string, at time.Time) error {
	err := s.deps.Store.SetOverride(c.Request().Context(), store.Override{Channel: channel, Disabled: disabled, Reason: reason, By: by, At: at})
	if err != nil {
		s.log.Error("save channel override", "channel", channel, "err", err)
		return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "could not save the override; nothing changed, retry", RetryAfter: 1}
	}
	return nil
}

type simRequest struct {
	Mode string `json:"mode"`
}

func (s *Server) setSimMode(c *echo.Context) error {
	l, err := s.lane(c)
	if err != nil {
		return err
	}
	sim, ok := l.Channel.(simulator)
	if !ok {
		return errorf(http.StatusConflict, "not_a_sim_channel", "name", "channel %q is of type %s; only sim channels have a mode", l.Name, l.Config.Type)
	}
	var req simRequest
	if err := s.decodeOptional(c, &req); err != nil {
		return err
	}
	if req.Mode == "" {
		return unprocessable("missing_field", "mode", "mode is required")
	}
	if err := sim.SetMode(req.Mode); err != nil {
		return unprocessable("invalid_field", "mode", "%s", err.Error())
	}
	return c.JSON(http.StatusOK, s.channelView(l))
}

// decodeOptional decodes a small JSON body strictly (decodeStrict); an
// empty body is fine.
func (s *Server) decodeOptional(c *echo.Context, v any) error {
	data, err := readBody(c.Request(), 4<<10)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil
	}
	return decodeStrict(data, v)
}

// explain answers where a message with this body would go now. With
// ?assume_down=whatsapp,sms those channels count as down for this answer
// only: an outage rehearsal against the live breakers and probes.
func (s *Server) explain(c *echo.Context) error {
	var assumeDown []string
	for _, v := range c.Request().URL.Query()["assume_down"] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				assumeDown = append(assumeDown, name)
			}
		}
	}
	data, err := readBody(c.Request(), s.maxBody())
	if err != nil {
		return err
	}
	req, err := DecodeSendRequest(data)
	if err != nil {
		return err
	}
	phones, err := parsePhones(req.To)
	if err != nil {
		return err
	}
	router := s.deps.Dispatch.Router()
	in := phones.MatchInput(req.Tags)
	out, err := router.ExplainMessage(req.Policy, in, req.To, assumeDown)
	switch {
	case err == nil:
		// A number the policy does not send to is refused as a send
		// would be; the error names its country.
		if pol, err := router.SelectPolicy(req.Policy, in); err == nil {
			if err := checkCountries(pol, phones); err != nil {
				return err
			}
		}
		if err := s.explainOptOuts(c.Request().Context(), req.To, &out); err != nil {
			return err
		}
		resp := ExplainResponse{Explanation: out}
		resp.Country, resp.CountryFrom, resp.Countries = explainCountries(phones)
		if err := s.explainWhen(router, req, &resp); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, resp)
	case errors.Is(err, routing.ErrUnknownPolicy):
		return unprocessable("unknown_policy", "policy", "no policy named %q is configured", req.Policy)
	case errors.Is(err, routing.ErrNoPolicy):
		return unprocessable("no_policy", "policy", "no policy matches the message's tags and country, and no \"default\" policy is configured")
	case errors.Is(err, routing.ErrUnknownChannel):
		return unprocessable("unknown_channel", "assume_down", "assume_down names an %s", err.Error())
	}
	return err
}
