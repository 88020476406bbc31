// Package api is Switchboard's HTTP API (echo v5): sending and looking up
// messages, channel health and ops overrides, route explanations, and the
// liveness and readiness endpoints.
package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/internal/lograte"
	"github.com/switchboard-gw/switchboard/store"
)

// Error is the one error shape every API response uses:
// {"error": {"code": "...", "message": "...", "field": "..."}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// RetryAfter, in seconds, is sent as a Retry-After header (503, 429).
	RetryAfter int `json:"-"`
	// cause is the internal error behind a 503, for classification only
	// (errors.Is); it is never shown to the client.
	cause error
}

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.cause }

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// StatusCode lets echo's middleware (logging) see the status.
func (e *Error) StatusCode() int { return e.Status }

func errorf(status int, code, field, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

func badRequest(code, field, format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, code, field, format, args...)
}

func unprocessable(code, field, format string, args ...any) *Error {
	return errorf(http.StatusUnprocessableEntity, code, field, format, args...)
}

type errorBody struct {
	Error *Error `json:"error"`
}

// errorHandler renders every error as the API's JSON error shape. Errors
// that are not *Error are our fault: logged in full, answered without
// internals; except a store that cannot be reached (store.ErrUnavailable:
// a database down or restarting), answered 503 unavailable with
// Retry-After and logged once per interval by unavailable.
func errorHandler(log *slog.Logger, unavailable *lograte.Limiter) echo.HTTPErrorHandler {
	return func(c *echo.Context, err error) {
		if r, _ := echo.UnwrapResponse(c.Response()); r != nil && r.Committed {
			return
		}
		var ae *Error
		var he *echo.HTTPError
		var sc echo.HTTPStatusCoder
		switch {
		case errors.As(err, &ae):
		case errors.As(err, &he):
			ae = &Error{Status: he.Code, Code: httpCode(he.Code), Message: http.StatusText(he.Code)}
			if he.Message != "" {
				ae.Message = he.Message
			}
		case errors.As(err, &sc) && sc.StatusCode() >= 400 && sc.StatusCode() < 500:
			// echo's router errors (no such route, wrong method).
			ae = &Error{Status: sc.StatusCode(), Code: httpCode(sc.StatusCode()), Message: http.StatusText(sc.StatusCode())}
		case errors.Is(err, store.ErrUnavailable):
			unavailable.Log(log, slog.LevelError, "message store unavailable: requests answered 503", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
			ae = storeUnavailable(err)
		default:
			log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
			ae = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the gateway logged the details"}
		}
		if ae.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", fmt.Sprint(ae.RetryAfter))
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(ae.Status)
			return
		}
		_ = c.JSON(ae.Status, errorBody{Error: ae})
	}
}

// storeUnavailable is the answer to a request the store could not serve
// for want of a connection: nothing was done, retry in a second.
func storeUnavailable(cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the message store is unavailable; retry", RetryAfter: 1, cause: cause}
}

func httpCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	}
	if status >= 500 {
		return "internal"
	}
	return "bad_request"
}
