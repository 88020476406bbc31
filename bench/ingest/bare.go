package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v5"
)

// bareSendRequest has the shape of api.SendRequest. It is a copy rather
// than the type itself so the baseline does not pick up the API's
// validation: the bare server is the floor (HTTP + echo + JSON decode) the
// gateway's own work sits on.
type bareSendRequest struct {
	To struct {
		Phone    string `json:"phone,omitempty"`
		WhatsApp string `json:"whatsapp,omitempty"`
		Email    string `json:"email,omitempty"`
		Telegram string `json:"telegram,omitempty"`
	} `json:"to"`
	Body        string            `json:"body"`
	Subject     string            `json:"subject,omitempty"`
	Policy      string            `json:"policy,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	TTL         string            `json:"ttl,omitempty"`
	CallbackURL string            `json:"callback_url,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

type bareResponse struct {
	ID     string   `json:"id"`
	Status string   `json:"status"`
	Policy string   `json:"policy"`
	Route  []string `json:"route"`
}

// bareMaxBody is the gateway's default server.max_body_bytes.
const bareMaxBody = 64 << 10

// serveBare runs the baseline server on addr until SIGTERM or SIGINT. It is
// the bench binary re-executed with -serve-bare, so it has a Go runtime of
// its own, as the gateway does.
func serveBare(addr string) error {
	var ids atomic.Uint64
	e := newBareEcho()
	e.POST("/v1/messages", func(c *echo.Context) error {
		req, _, ok, err := decodeBare(c)
		if !ok {
			return err
		}
		return c.JSON(http.StatusAccepted, bareResponse{
			ID: "bare-" + strconv.FormatUint(ids.Add(1), 10), Status: "queued",
			Policy: req.Policy, Route: []string{"whatsapp", "sms"},
		})
	})
	return serveUntilSignal(addr, e)
}

// newBareEcho is an echo server with the /readyz the bench polls.
func newBareEcho() *echo.Echo {
	e := echo.New()
	e.GET("/readyz", func(c *echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})
	return e
}

// decodeBare reads and decodes a send request as the gateway does (size
// limit, JSON). When ok is false the error answer has been written (err is
// what the handler returns).
func decodeBare(c *echo.Context) (req bareSendRequest, data []byte, ok bool, err error) {
	data, err = io.ReadAll(io.LimitReader(c.Request().Body, bareMaxBody+1))
	if err != nil {
		return req, nil, false, c.JSON(http.StatusBadRequest, map[string]string{"error": "could not read the request body"})
	}
	if len(data) > bareMaxBody {
		return req, nil, false, c.JSON(http.StatusRequestEntityTooLarge, map[string]string{"error": "request body too large"})
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return req, nil, false, c.JSON(http.StatusBadRequest, map[string]string{"error": "malformed JSON"})
	}
	return req, data, true, nil
}

// serveUntilSignal serves h on addr with the gateway's http.Server
// settings until SIGTERM or SIGINT.
func serveUntilSignal(addr string, h http.Handler) error {
	// The gateway's http.Server settings (gateway.Run).
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
