package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExplainAssumeDown(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	r := tb.do(t, http.MethodPost, "/v1/routes/explain?assume_down=whatsapp", readKey, otp)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "sms", r.body["channel"])
	first := r.body["channels"].([]any)[0].(map[string]any)
	require.Equal(t, "unhealthy", first["reason"])
	require.Equal(t, "down", first["state"])

	// For this explanation only: the live answer is unchanged.
	r = tb.do(t, http.MethodPost, "/v1/routes/explain", readKey, otp)
	require.Equal(t, "whatsapp", r.body["channel"])

	r = tb.do(t, http.MethodPost, "/v1/routes/explain?assume_down=whatsapp,sms", readKey, otp)
	require.Nil(t, r.body["channel"], "the message has no email address: nowhere to go")

	r = tb.do(t, http.MethodPost, "/v1/routes/explain?assume_down=whatsapp,fax", readKey, otp)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.raw)
	code, field := errField(r)
	require.Equal(t, "unknown_channel", code)
	require.Equal(t, "assume_down", field)
	require.Contains(t, r.raw, `\"fax\"`)
}

func TestReloadWithoutConfigFile(t *testing.T) {
	t.Parallel()
	tb := setup(t) // a config parsed from memory: nothing to re-read
	r := tb.do(t, http.MethodPost, "/-/reload", adminKey, "")
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	code, _ := errField(r)
	require.Equal(t, "reload_unavailable", code)
	r = tb.do(t, http.MethodPost, "/-/reload", readKey, "")
	require.Equal(t, http.StatusForbidden, r.status, r.raw)
}
