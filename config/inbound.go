package config

import "net/url"

// Inbound configures what the gateway does with messages people send to
// its channels (replies, STOP): each is stored (GET /v1/inbound) and, when
// CallbackURL is set, POSTed there through the callback outbox, signed
// with CallbackSecret as status callbacks are (Switchboard-Signature),
// retried and isolated per destination as they are, and bound by the
// callbacks section's address policy.
type Inbound struct {
	CallbackURL string `yaml:"callback_url"`
	// CallbackSecret signs the callbacks; required with CallbackURL.
	// Give it from the environment: callback_secret: ${INBOUND_CALLBACK_SECRET}.
	CallbackSecret Secret `yaml:"callback_secret"`
}

// minInboundSecretLen is the shortest inbound.callback_secret accepted,
// as for API keys: a short secret can be guessed.
const minInboundSecretLen = minKeyLen

func (v *checker) inbound() {
	in := &v.c.Inbound
	if in.CallbackURL != "" {
		// The rules of a message's callback_url: an absolute http(s) URL.
		if u, err := url.Parse(in.CallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			v.errorf("inbound.callback_url", "must be an absolute http or https URL without credentials, such as \"https://app.example.com/switchboard/inbound\"")
		}
	}
	switch n := len(in.CallbackSecret.Reveal()); {
	case in.CallbackURL == "" && n > 0:
		v.errorf("inbound.callback_secret", "set without inbound.callback_url: give the URL too, or remove the secret")
	case in.CallbackURL != "" && n == 0:
		v.errorf("inbound.callback_secret", "required with inbound.callback_url: it signs the callbacks (Switchboard-Signature); set it from the environment, such as ${INBOUND_CALLBACK_SECRET}")
	case n > 0 && n < minInboundSecretLen:
		// Never print the secret itself.
		v.errorf("inbound.callback_secret", "too short (%d characters): use at least %d so it cannot be guessed", n, minInboundSecretLen)
	}
}
