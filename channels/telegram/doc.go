// Package telegram is the channel type "telegram": messages sent by a bot
// through the Telegram Bot API (sendMessage), with
// github.com/go-telegram-bot-api/telegram-bot-api/v5.
//
// # Config
//
//	telegram:
//	  type: telegram
//	  token: ${TELEGRAM_TOKEN}     # required; "<bot id>:<secret>" from @BotFather
//	  parse_mode: HTML             # "" (plain text, the default), MarkdownV2 or HTML
//	  disable_notification: false  # true: recipients get no sound or banner
//	  endpoint: https://api.telegram.org  # default; a self-hosted Bot API server or proxy
//
// kind may be left out; if set it must be telegram. Unknown keys are errors.
// Methods are called at <endpoint>/bot<token>/<method>. Building the channel
// does no network I/O, so `config validate` works offline.
//
// # Sending
//
// The recipient (the message's telegram address) is a numeric chat id,
// negative for groups and channels, or "@channelusername". The body is sent
// as literal text: with a parse mode it is escaped for that mode (MarkdownV2:
// \ _ * [ ] ( ) ~ ` > # + - = | { } . ! get a backslash; HTML: < > & become
// entities), so it can never fail to parse. Telegram limits a message to
// 4096 characters, counted as Unicode code points after entity parsing (the
// Bot API server counts code points, not the UTF-16 units of entity offsets,
// so an emoji counts once); a longer, empty or non-UTF-8 body fails Permanent
// without a call. Result.ProviderID is "<chat id>:<message_id>", the chat id
// being the numeric one Telegram answers with. Bots get no delivery receipts
// and sendMessage answers with the stored message, so a success is
// Delivered.
//
// # Errors
//
// The Bot API answers {"ok":false,"error_code":N,"description":"...",
// "parameters":{"retry_after":S}}; errors are classified on error_code:
//
//	429                        RateLimited, RetryAfter = retry_after seconds
//	                           (or the Retry-After header)
//	400 chat not found, bad    Permanent (migrate_to_chat_id is named)
//	  request, can't parse
//	403 blocked by the user,   Permanent: it is about this recipient, not
//	  kicked from the chat     the bot (unlike channels.HTTPClass)
//	401 bad token, 404 no Bot  Misconfigured
//	  API at this endpoint
//	5xx                        Transient
//	no answer, request unsent  Transient (refused, DNS, ctx ended first)
//	no answer after the        Ambiguous: Telegram may have sent it
//	  request was written
//	2xx with an unreadable     Ambiguous
//	  answer
//
// A non-JSON error answer (a proxy's 502 page) is classified by its HTTP
// status (404 there too means Misconfigured). Error texts never contain the
// token: request URLs in transport errors are redacted. The caller's ctx
// bounds every call, including reading the answer.
//
// # Probe
//
// Probe calls getMe, which checks the token and sends nothing. 401 and 404
// are Misconfigured; every other failure is Transient.
//
// # Updates (inbound messages)
//
// With webhook_secret set, call setWebhook with url =
// server.public_url + "/v1/webhooks/telegram?channel=NAME" and
// secret_token = webhook_secret. WebhookInbound refuses an update whose
// X-Telegram-Bot-Api-Secret-Token is not that secret (compared in constant
// time), and every update when none is set, with channels.ErrBadSignature.
// A message with text becomes a channels.Inbound from the chat id, with
// ids "<chat id>:<message_id>" as Send's ProviderID, so reply_to_message
// names the outbound message it answers. Other updates are acknowledged.
package telegram
