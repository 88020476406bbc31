package whatsappcloud_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/whatsappcloud"
	"github.com/switchboard-gw/switchboard/config"
)

const (
	testPhoneID     = "106540352242922"
	testPhoneIDIN   = "106540352242977" // a second number, for phone_number_ids
	testToken       = "EAAGtestTOKENdoNotLeak123"
	testAppSecret   = "app-secret-do-not-leak"
	testVerifyToken = "verify-token-do-not-leak"
	testVersion     = "v26.0"
)

// secrets are what no error may contain.
var secrets = []string{testToken, testAppSecret, testVerifyToken}

// fakeGraph is a Graph API answering like Meta's Cloud API reference: it
// checks each request's path, bearer token and JSON shape, and answers
// with reply (or a success in the documented shape when reply is nil).
type fakeGraph struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	reply http.HandlerFunc
	sends []sendBody // every well-formed send received
	from  []string   // the phone number id each send was posted to
	raw   []string   // their JSON, as received
	hits  int
}

type sendBody struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type"`
	To               string `json:"to"`
	Type             string `json:"type"`
	Text             struct {
		PreviewURL *bool   `json:"preview_url"`
		Body       *string `json:"body"`
	} `json:"text"`
	Template *struct {
		Name     string `json:"name"`
		Language struct {
			Code string `json:"code"`
		} `json:"language"`
		Components []struct {
			Type       string `json:"type"`
			SubType    string `json:"sub_type"`
			Index      string `json:"index"` // a string in the Cloud API; a number fails to decode
			Parameters []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"parameters"`
		} `json:"components"`
	} `json:"template"`
}

// valid checks a send the way the Cloud API reference describes it: a text
// message has text.body, a template message has a name, a language code
// and components whose parameters are non-empty text, and a button
// component says its sub_type and index.
func (sb *sendBody) valid() bool {
	if sb.MessagingProduct != "whatsapp" || sb.RecipientType != "individual" || sb.To == "" || strings.HasPrefix(sb.To, "+") {
		return false
	}
	switch sb.Type {
	case "text":
		return sb.Template == nil && sb.Text.Body != nil && sb.Text.PreviewURL != nil
	case "template":
		tp := sb.Template
		if tp == nil || sb.Text.Body != nil || sb.Text.PreviewURL != nil || tp.Name == "" || tp.Language.Code == "" {
			return false
		}
		for _, c := range tp.Components {
			switch {
			case c.Type == "body" && c.SubType == "" && c.Index == "":
			case c.Type == "button" && c.SubType == "url" && c.Index != "":
			default:
				return false
			}
			if len(c.Parameters) == 0 {
				return false
			}
			for _, p := range c.Parameters {
				if p.Type != "text" || p.Text == "" {
					return false
				}
			}
		}
		return true
	}
	return false
}

func newFakeGraph(t *testing.T) *fakeGraph {
	t.Helper()
	f := &fakeGraph{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGraph) setReply(h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = h
}

func (f *fakeGraph) received() ([]sendBody, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sendBody(nil), f.sends...), f.hits
}

// receivedJSON is the JSON of every well-formed send, as received.
func (f *fakeGraph) receivedJSON() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.raw...)
}

// graphErr answers like Graph does on failure.
func graphErr(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":"OAuthException","code":%d,"error_subcode":2494010,"fbtrace_id":"AbCdEfGh"}}`, msg, code)
}

func (f *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits++
	reply := f.reply
	f.mu.Unlock()

	// Graph's checks, in Graph's order: auth first.
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		graphErr(w, http.StatusUnauthorized, 190, "Invalid OAuth access token - Cannot parse access token")
		return
	}
	// Both test numbers belong to the account.
	id := testPhoneID
	if strings.HasPrefix(r.URL.Path, "/"+testVersion+"/"+testPhoneIDIN) {
		id = testPhoneIDIN
	}
	base := "/" + testVersion + "/" + id
	switch {
	case r.Method == http.MethodPost && r.URL.Path == base+"/messages":
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			graphErr(w, http.StatusBadRequest, 100, "(#100) Content-Type must be application/json, got "+ct)
			return
		}
		raw, err := io.ReadAll(r.Body)
		require.NoError(f.t, err)
		// Unknown fields are what Graph rejects as "(#100) Invalid parameter".
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		var sb sendBody
		if err := dec.Decode(&sb); err != nil || !sb.valid() {
			graphErr(w, http.StatusBadRequest, 100, "(#100) Invalid parameter: "+string(raw))
			return
		}
		f.mu.Lock()
		f.sends = append(f.sends, sb)
		f.from = append(f.from, id)
		f.raw = append(f.raw, string(raw))
		f.mu.Unlock()
		if reply != nil {
			reply(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":%q,"wa_id":%q}],"messages":[{"id":"wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI0"}]}`, sb.To, sb.To)
	case r.Method == http.MethodGet && r.URL.Path == base:
		if got := r.URL.Query().Get("fields"); got != "id,display_phone_number,quality_rating" {
			graphErr(w, http.StatusBadRequest, 100, "(#100) unexpected fields "+got)
			return
		}
		if reply != nil {
			reply(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"display_phone_number":"+1 555-010-0000","quality_rating":"GREEN"}`, id)
	default:
		graphErr(w, http.StatusBadRequest, 100, fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist", r.Method, r.URL.Path))
	}
}

func testOptions(endpoint string) whatsappcloud.Options {
	o := whatsappcloud.DefaultOptions()
	o.PhoneNumberID = testPhoneID
	o.Token = config.Secret(testToken)
	o.AppSecret = config.Secret(testAppSecret)
	o.VerifyToken = config.Secret(testVerifyToken)
	o.APIVersion = testVersion
	o.Endpoint = endpoint
	return o
}

func newChannel(t *testing.T, opts whatsappcloud.Options) *whatsappcloud.Cloud {
	t.Helper()
	c, err := whatsappcloud.New("wa", opts, channels.Deps{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return c
}

func msg(to, body string) *channels.Message {
	return &channels.Message{ID: "m1", To: to, Body: body}
}
