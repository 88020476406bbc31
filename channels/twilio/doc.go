// Package twilio provides the channel types twilio-sms and twilio-whatsapp:
// one Twilio account sending through the Programmable Messaging API
// (POST /2010-04-01/Accounts/{AccountSid}/Messages.json) with
// github.com/twilio/twilio-go.
//
// # Configuration
//
//	channels:
//	  sms:
//	    type: twilio-sms
//	    account_sid: "${TWILIO_ACCOUNT_SID}"   # required, AC + 32 hex digits
//	    auth_token: "${TWILIO_AUTH_TOKEN}"     # required, a secret
//	    from: "+15005550006"                   # E.164, short code or alphanumeric sender ID
//	  whatsapp:
//	    type: twilio-whatsapp
//	    account_sid: "${TWILIO_ACCOUNT_SID}"
//	    auth_token: "${TWILIO_AUTH_TOKEN}"
//	    from: "whatsapp:+14155238886"          # "+14155238886" is prefixed for you
//	    # messaging_service_sid: MG...         # instead of from: Twilio picks the sender
//	    # senders: {IN: "+14155238886", default: MG...}  # instead of both: by destination country
//	    # endpoint: https://api.dublin.ie1.twilio.com   # edge, proxy or mock; default Twilio's
//	    # content_sid: HX...                   # twilio-whatsapp only: send this approved content template
//	    # content_variables: {"1": metadata.code}       # its variables, and where their values come from
//
// Exactly one of from, messaging_service_sid and senders is required.
// senders picks the sender by the destination's country (see senders.go):
// {IN: "SWBOARD", US: "+15005550006", GB: "MG...", default: "+1..."}; an
// MG SID goes as MessagingServiceSid, anything else as From, and a country
// with no key and no default fails as misconfigured naming the country.
// Result.Sender is the From or service SID each send used. kind may be
// left out: it is sms or whatsapp by type, and any other kind is an error.
// Decoding is strict and every error names the file, line and key.
//
// # Sending
//
// Send makes exactly one Create Message call. WhatsApp recipients get the
// "whatsapp:" prefix. Bodies over 1600 characters (Twilio's limit) fail as
// permanent before any call. Result.ProviderID is the Message SID; for SMS,
// Result.Info is the segment count and encoding computed locally
// ("1 segment, GSM-7", "3 segments, UCS-2"; see CountSegments).
//
// twilio-go takes no context, so every call gets a small twilio-go client
// whose RoundTripper puts the caller's ctx on the request (its deadline
// bounds the whole call, capped at one minute), rewrites the URL to
// endpoint, records whether the request was written, and keeps the
// response's status and headers (see call).
//
// # WhatsApp templates
//
// WhatsApp delivers free-form text (Body) only within 24 hours of the
// customer's last message; outside that window Twilio answers 63016
// (permanent) and the route moves on. A business-initiated message (an
// OTP, an order update) must be a WhatsApp-approved template. On a
// twilio-whatsapp channel with content_sid (HX followed by 32 hex digits:
// the template's SID in the Twilio console's Content Template Builder),
// every send carries ContentSid and, when content_variables is set,
// ContentVariables, a JSON object of variable name to value
// ({"1":"123456"}), instead of Body; Result.Info is "template HX...".
// Each variable's value comes from "body" (the message's body), "subject"
// (its subject) or "metadata.KEY" (the value of KEY in the message's
// metadata, as sent to the API: "metadata": {"code": "123456"}). The body
// is sent only as a variable that takes it, so its 1600-character limit
// does not apply. A message that lacks a metadata key a variable names,
// or whose value for it is empty, fails on this channel as permanent
// before any call ("content variable "1": the message has no metadata key
// "code""), and the route moves on. twilio-sms channels take no
// content_sid.
//
// # Probe
//
// Probe fetches the account (GET /2010-04-01/Accounts/{Sid}.json): it sends
// nothing and checks the endpoint, the credentials and that the account is
// active. 401/403 is misconfigured; 5xx, timeouts and refused connections
// are transient.
//
// # Errors
//
// Every error is a *channels.Error; Code is Twilio's error code, and
// errors.As finds the *client.TwilioRestError. Twilio's code decides first,
// then the HTTP status (channels.HTTPClass):
//
//	21211 invalid To, 21614 not mobile, 21610 unsubscribed (STOP),
//	21408 region not enabled, 21617 body too long,
//	63016 outside the WhatsApp 24h window, 63024 invalid WhatsApp recipient,
//	other 4xx                                        permanent
//	20003, 20005, 20404, 21212, 21606, 63007, 401, 403, 404,
//	63027/63028/63054 (the content template is wrong or unusable)
//	                                                 misconfigured
//	20429, HTTP 429                                  rate limited, Retry-After honoured
//	HTTP 5xx, refused, failure before the request was written
//	                                                 transient
//	timeout or reset after the request was written,
//	2xx whose body was lost                          ambiguous (may have been sent)
//
// Texts name the call and never contain the auth token:
// "twilio: create message: invalid 'To' phone number: The 'To' number 123 is
// not a valid phone number. (permanent 21211)".
//
// # Status callbacks
//
// When server.public_url is set, every message asks Twilio to report its
// status to public_url + "/v1/webhooks/twilio?channel=NAME"; nothing needs
// setting in the Twilio console. Webhook checks X-Twilio-Signature against
// that URL and the form parameters (a mismatch wraps
// channels.ErrBadSignature), then maps MessageStatus: sent, delivered, read,
// undelivered and failed become receipts (with ErrorCode and ErrorMessage
// for the last two); queued, accepted, scheduled and sending are ignored.
// If the gateway sits behind a proxy, public_url must be the URL Twilio
// calls, scheme and port included, or every signature check fails.
//
// # Incoming messages
//
// Set the number's "A message comes in" webhook (HTTP POST) to the same
// URL. WebhookInbound, which the API calls, tells the two apart: a form
// with MessageStatus is a status callback, one with Body and no
// MessageStatus an incoming message. That becomes a channels.Inbound: From
// and To without the "whatsapp:" prefix, Body, MessageSid and, for a
// WhatsApp reply, OriginalRepliedMessageSid. It is answered with empty
// TwiML, so Twilio sends no reply of its own.
package twilio
