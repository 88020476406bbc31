// Package whatsappcloud is the "whatsapp-cloud" channel type: WhatsApp
// through Meta's Cloud API (the Graph API) directly, with the standard
// library's HTTP client and no SDK. Next to a twilio-whatsapp channel it
// removes Twilio as a single point of failure for WhatsApp; it cannot help
// when WhatsApp itself is down (2021-10-04), which is what the SMS, email
// and Telegram channels further down a route are for.
//
// # Config
//
//	channels:
//	  wa-meta:
//	    type: whatsapp-cloud
//	    phone_number_id: "106540352242922"    # required, digits: WhatsApp Manager > API Setup
//	    # phone_number_ids: {IN: "106540352242977", default: "106540352242922"}  # instead: by destination country
//	    token: "${WA_CLOUD_TOKEN}"             # required: system-user token, whatsapp_business_messaging
//	    app_secret: "${WA_CLOUD_APP_SECRET}"   # checks webhook signatures; without it receipts are refused
//	    verify_token: "${WA_CLOUD_VERIFY}"     # the dashboard's "Verify token", for the GET handshake
//	    api_version: v26.0                     # default DefaultAPIVersion
//	    endpoint: https://graph.facebook.com   # default; tests point it at a fake
//	    template:                              # optional: send an approved template, not free-form text
//	      name: otp_code                       # required: the template's name in WhatsApp Manager
//	      language: en_US                      # required: its approved translation's code
//	      body_params: [metadata.code]         # {{1}}, {{2}}, ... of the body, in order
//	      button_params: [metadata.code]       # URL buttons' parameter, by button index 0, 1, ...
//
// kind may be left out; if given it must be whatsapp. token, app_secret and
// verify_token are config.Secret: they print as <redacted>, and the token is
// removed from any provider text stored on an attempt.
//
// # Sending
//
// Send posts one message to
// {endpoint}/{api_version}/{phone_number_id}/messages with the token as a
// bearer token; "to" is the E.164 address without "+". The answer's
// messages[0].id (a "wamid.…") is Result.ProviderID, which receipts are
// matched on. Addresses that are not E.164 are refused as permanent before
// any call.
//
// Without template, the message is free-form text: the body, which must
// not be empty or over MaxBodyChars (4096) characters (else permanent,
// before any call). Meta delivers free-form text only within 24 hours of
// the customer's last message; outside that window the answer is 131047
// (permanent), so such messages fail over to the route's next channel.
//
// # Templates
//
// A business-initiated message (an OTP, an order update) to a customer who
// has not written within 24 hours must be a template message: a template
// approved in WhatsApp Manager, filled with the message's values. With
// template set, every send on the channel is that template:
//
//	{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "15551234567",
//	 "type": "template", "template": {"name": "otp_code", "language": {"code": "en_US"},
//	 "components": [
//	   {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
//	   {"type": "button", "sub_type": "url", "index": "0",
//	    "parameters": [{"type": "text", "text": "123456"}]}]}}
//
// Each entry of body_params and button_params names where its text comes
// from: "body" (the message's body), "subject" (its subject) or
// "metadata.KEY" (the value of KEY in the message's metadata, as sent to
// the API: "metadata": {"code": "123456"}). body_params fill the body's
// {{1}}, {{2}}, ... in order; button_params[i] fills the URL button with
// index i (an authentication template's copy-code button is URL button 0
// and takes the code again, as above). The body is sent only if a
// parameter takes it, so its free-form limits do not apply. Result.Info
// starts with "template NAME". A message
// that lacks a metadata key a parameter names, or whose value for it is
// empty, fails on this channel as permanent before any call ("template
// otp_code: body parameter {{1}}: the message has no metadata key
// "code""), and the route moves on. Meta checks the rest: a template name
// or language it does not know, or parameters that do not match the
// approved template, are answered with HTTP 400 and a code this package
// does not list, so the send fails as permanent (see Errors).
//
// # Webhook
//
// In the Meta app (WhatsApp > Configuration > Webhook) set the callback URL
// to
//
//	server.public_url + "/v1/webhooks/whatsapp-cloud?channel=NAME"
//
// with NAME this channel's YAML name, the verify token to verify_token, and
// subscribe to the "messages" field. Meta calls the URL with GET to verify
// it (hub.mode=subscribe, hub.verify_token compared in constant time,
// hub.challenge echoed as text/plain) and with POST for notifications,
// signed with X-Hub-Signature-256 = "sha256=" + hex(HMAC-SHA256(app_secret,
// raw body)), checked in constant time; a bad or missing signature or
// verify token is an error wrapping channels.ErrBadSignature. Statuses
// (entry[].changes[].value.statuses[]) become receipts: sent, delivered,
// read, and failed with errors[0]'s code and title. Messages
// (entry[].changes[].value.messages[], through WebhookInbound) become
// channels.Inbound: text messages and quick-reply button taps, from "+" and
// the sender's number, context.id as the message replied to; media and
// other types carry no text and are skipped. Statuses and messages for a
// different phone_number_id are ignored and logged:
// when one Meta app serves several numbers, give each channel its own
// callback URL (Meta lets the app's callback URL be overridden per WABA and
// per business phone number).
//
// # Probe
//
// Probe reads GET {endpoint}/{api_version}/{phone_number_id}?fields=id,
// display_phone_number,quality_rating: it checks Graph's reachability, the
// token and the phone number id without sending a message. Auth errors and
// errors naming the request (no such id) are misconfigured; a change of
// quality rating is logged (RED as a warning), never failed.
//
// # Errors
//
// Every failed call makes one *channels.Error whose Code is Graph's error
// code. The code decides the class when it is known (Graph answers nearly
// everything, rate limits included, with HTTP 400), the HTTP status
// otherwise (channels.HTTPClass). From Meta's Cloud API error code list:
//
//	permanent      100 131008 131009 131021 131026 131030 131047 131049 131050
//	               131051 130472 130497 135000; unknown codes with a 4xx
//	rate limited   4 17 32 613 80007 130429 131048 131056, HTTP 429:
//	               Retry-After if sent, else DefaultRetryAfter (60s)
//	misconfigured  0 3 10 190 200-299 33 368 131005 131031 131037 131042
//	               131045, HTTP 401 and 403; the template itself: 132000
//	               (parameter count), 132001 (no such template or
//	               language), 132015 (paused), 132016 (disabled)
//	transient      1 2 131000 131016 131057, HTTP 5xx and 408;
//	               connection refused or a failure before the request was written
//	ambiguous      a timeout or lost connection after the request was written,
//	               or a 2xx whose body cannot be read: Meta may have the message
package whatsappcloud
