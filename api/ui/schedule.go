package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// scheduleFacts adds to a message page why a scheduled message waits and
// whether it can still be canceled.
func (s *dash) scheduleFacts(d *uiMessageData, m *store.Message) {
	if d.M.Status == string(store.StatusScheduled) {
		if r := reason.Parse(d.M.WaitReason); r.Known() {
			d.Wait = r.Sentence(reason.Facts{Channel: s.channelLabel(firstOf(m.Route))})
		}
	}
	_, ok := s.b.Store().(store.Canceler)
	d.CanCancel = ok && m.Status == store.StatusQueued && (m.LeaseOwner == "" || m.LeaseUntil.Before(s.now()))
}

// uiCancel is the message page's cancel button (admins): the store's
// atomic cancel, as POST /v1/messages/{id}/cancel.
func (s *dash) uiCancel(c *echo.Context) error {
	id := c.Param("id")
	if _, err := uuid.Parse(id); err != nil {
		return s.uiError(c, http.StatusNotFound, "Not found", "No message has the id "+id+".")
	}
	cs, ok := s.b.Store().(store.Canceler)
	if !ok {
		return s.uiError(c, http.StatusConflict, "Cannot cancel", "This store cannot cancel messages.")
	}
	_, changed, err := cs.Cancel(c.Request().Context(), id, s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return s.uiError(c, http.StatusNotFound, "Not found", "No message has the id "+id+".")
	case errors.Is(err, store.ErrNotCancelable):
		return s.uiError(c, http.StatusConflict, "Too late to cancel", "A provider may already have this message, so it can no longer be canceled.")
	case err != nil:
		return fmt.Errorf("cancel message: %w", err)
	}
	if changed {
		s.log.Warn("message canceled by ops", "id", id, "key", uiSess(c).keyName, "via", "dashboard")
	}
	return c.Redirect(http.StatusSeeOther, "/ui/messages/"+url.PathEscape(id))
}

func firstOf(route []string) string {
	if len(route) == 0 {
		return "the first channel"
	}
	return route[0]
}
