package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v5"
)

// Batch limits. A batch body may be batchBodyFactor times the server's
// max_body_bytes (64 KiB × 64 = 4 MiB by default); each item on its own is
// still held to max_body_bytes, like a single send.
const (
	maxBatchItems     = 1000
	batchBodyFactor   = 64
	batchParallelism  = 32
	batchKeySeparator = "#"
)

// BatchRequest is the body of POST /v1/messages/batch.
type BatchRequest struct {
	Messages []jsontext.Value `json:"messages"`
}

// BatchResult is the outcome of one item of a batch: accepted (ID, Status,
// Policy, Route) or refused (Error). Index is the item's position in the
// request.
type BatchResult struct {
	Index    int      `json:"index"`
	ID       string   `json:"id,omitempty"`
	Status   string   `json:"status,omitempty"`
	Policy   string   `json:"policy,omitempty"`
	Route    []string `json:"route,omitempty"`
	Replayed bool     `json:"idempotent_replay,omitempty"`
	Error    *Error   `json:"error,omitempty"`
	// A scheduled message's due time and why it waits (schedule.go).
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	WaitReason    string     `json:"wait_reason,omitempty"`
}

// BatchResponse is the 200 body of POST /v1/messages/batch.
type BatchResponse struct {
	Accepted int           `json:"accepted"`
	Rejected int           `json:"rejected"`
	Results  []BatchResult `json:"results"`
}

func (s *Server) maxBatchBody() int64 { return s.maxBody() * batchBodyFactor }

// sendBatch accepts up to maxBatchItems messages in one request. Each item
// is validated and accepted on its own, exactly as POST /v1/messages would:
// a bad item is reported in its result and does not affect the others.
// Accepted items are durable before the response is written.
//
// Idempotency: an item's own "idempotency_key" wins; otherwise, when the
// request has an Idempotency-Key header K, item i uses the key "K#i", so a
// retried batch replays instead of sending twice.
func (s *Server) sendBatch(c *echo.Context) error {
	data, err := readBody(c.Request(), s.maxBatchBody())
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) && ae.Code == "body_too_large" {
			ae.Message = fmt.Sprintf("batch body is larger than %d bytes (%d × max_body_bytes); split the batch", s.maxBatchBody(), batchBodyFactor)
		}
		return err
	}
	batch, err := decodeBatch(data)
	if err != nil {
		return err
	}
	headerKey := c.Request().Header.Get("Idempotency-Key")
	if n := len(headerKey); n > 0 && n+len(batchKeySeparator)+len(strconv.Itoa(len(batch.Messages)-1)) > maxIdempotencyKey {
		return badRequest("invalid_header", "Idempotency-Key", "Idempotency-Key is too long for a batch of %d: with the item suffix it must fit in %d bytes", len(batch.Messages), maxIdempotencyKey)
	}
	scope, _ := c.Get(ctxKeyName).(string)
	ctx := c.Request().Context()
	// One token per item, valid or not; the items past the tokens the
	// key's bucket held are refused (api/limits.go).
	allowed, limited, err := s.limitBatch(c, len(batch.Messages))
	if err != nil {
		return err
	}

	results := make([]BatchResult, len(batch.Messages))
	sem := make(chan struct{}, batchParallelism)
	var wg sync.WaitGroup
	for i, raw := range batch.Messages {
		results[i].Index = i
		if i >= allowed {
			results[i].Error = limited
			continue
		}
		req, key, err := s.decodeBatchItem(raw)
		if err != nil {
			results[i].Error = asAPIError(err)
			continue
		}
		if key == "" && headerKey != "" {
			key = headerKey + batchKeySeparator + strconv.Itoa(i)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = s.acceptBatchItem(ctx, i, scope, req, key)
		})
	}
	wg.Wait()

	out := BatchResponse{Results: results}
	for _, r := range results {
		if r.Error != nil {
			out.Rejected++
		} else {
			out.Accepted++
		}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) acceptBatchItem(ctx context.Context, i int, scope string, req *SendRequest, key string) (res BatchResult) {
	res.Index = i
	defer func() {
		// One item must not take the batch (or the gateway) down.
		if p := recover(); p != nil {
			s.log.Error("panic accepting batch item", "index", i, "panic", p)
			res = BatchResult{Index: i, Error: &Error{Code: "internal", Message: "internal error; the gateway logged the details"}}
		}
	}()
	stored, replayed, err := s.accept(ctx, scope, req, key)
	if err != nil {
		e := asAPIError(err)
		if e.Code == "idempotency_mismatch" {
			e.Field = "idempotency_key"
			e.Message = "this idempotency key was already used with a different message"
		}
		res.Error = e
		return res
	}
	res = BatchResult{Index: i, ID: stored.ID, Policy: stored.Policy, Route: stored.Route, Replayed: replayed}
	res.Status, res.NextAttemptAt, res.WaitReason = s.scheduledAs(stored)
	return res
}

// asAPIError turns any error into the API's error shape, hiding internals.
func asAPIError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the gateway logged the details"}
}

// decodeBatch parses the batch envelope strictly. The whole body is one
// JSON document, so a key given twice anywhere in it, even inside an item,
// refuses the batch (400 invalid_json naming it, e.g. "messages[3].body"),
// as malformed JSON does; an item that is well-formed JSON but not a valid
// send request is refused in its own result.
func decodeBatch(data []byte) (*BatchRequest, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, badRequest("invalid_json", "", `request body is empty; send {"messages": [...]}`)
	}
	var b BatchRequest
	if err := jsonv2.Unmarshal(data, &b, strictJSON); err != nil {
		// Named as if the items were decoded too, so a key given twice
		// inside item 3 is "messages[3].body".
		return nil, jsonError(err, reflect.TypeFor[batchShape]())
	}
	if len(b.Messages) == 0 {
		return nil, unprocessable("missing_field", "messages", "messages must hold 1 to %d send requests", maxBatchItems)
	}
	if len(b.Messages) > maxBatchItems {
		return nil, unprocessable("too_many_messages", "messages", "a batch holds at most %d messages, this one has %d: split it", maxBatchItems, len(b.Messages))
	}
	return &b, nil
}

// batchShape is BatchRequest with its items' type, for naming fields.
type batchShape struct {
	Messages []batchItem `json:"messages"`
}

// batchItem is one item of a batch: a send request plus an optional
// idempotency key of its own.
type batchItem struct {
	SendRequest
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// decodeBatchItem validates one item: a send body plus an optional
// "idempotency_key".
func (s *Server) decodeBatchItem(raw jsontext.Value) (*SendRequest, string, error) {
	if int64(len(raw)) > s.maxBody() {
		return nil, "", errorf(http.StatusRequestEntityTooLarge, "body_too_large", "", "the message is larger than %d bytes (max_body_bytes)", s.maxBody())
	}
	var it batchItem
	if err := decodeStrict(raw, &it); err != nil {
		return nil, "", err
	}
	if len(it.IdempotencyKey) > maxIdempotencyKey {
		return nil, "", badRequest("invalid_field", "idempotency_key", "idempotency_key is longer than %d bytes", maxIdempotencyKey)
	}
	if err := it.validate(); err != nil {
		return nil, "", err
	}
	return &it.SendRequest, it.IdempotencyKey, nil
}
