package telegram

import (
	"strings"
	"unicode/utf8"
)

// MaxTextLength is Telegram's hard limit on a message's text, in Unicode
// code points after entity parsing. Telegram's docs say "1-4096 characters";
// the Bot API server (tdlib) counts them with utf8_length, i.e. code points,
// not the UTF-16 code units it uses for entity offsets: 4096 emoji outside
// the BMP (8192 UTF-16 units) are accepted, 4097 are not.
const MaxTextLength = 4096

// TextLength counts text the way Telegram does for MaxTextLength.
func TextLength(text string) int { return utf8.RuneCountInString(text) }

// markdownV2Escaper escapes every character MarkdownV2 gives a meaning to
// outside code entities, and the backslash itself: Telegram treats "\x" as
// a literal x, so an unescaped backslash in a body would vanish.
// (tgbotapi.EscapeText leaves the backslash alone.)
var markdownV2Escaper = func() *strings.Replacer {
	var pairs []string
	for _, c := range "\\_*[]()~`>#+-=|{}.!" {
		pairs = append(pairs, string(c), "\\"+string(c))
	}
	return strings.NewReplacer(pairs...)
}()

// htmlEscaper escapes what Telegram's HTML mode requires: <, > and & outside
// tags and entities. Quotes need no escaping in text.
var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// EscapeText returns body escaped so that, sent with parseMode, it arrives
// as the literal text it was. Plain text is returned unchanged.
func EscapeText(parseMode, body string) string {
	switch parseMode {
	case ParseModeMarkdownV2:
		return markdownV2Escaper.Replace(body)
	case ParseModeHTML:
		return htmlEscaper.Replace(body)
	}
	return body
}
