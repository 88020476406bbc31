package telegram_test

import (
	"context"
	"fmt"
	"html"
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/channels/telegram"
)

// unescapeMarkdownV2 is how Telegram reads MarkdownV2 text with no
// entities: "\x" is a literal x.
var mdEscape = regexp.MustCompile(`\\(.)`)

func unescapeMarkdownV2(s string) string { return mdEscape.ReplaceAllString(s, "$1") }

func TestEscapeText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode, body, want string
	}{
		{telegram.ParseModePlain, `<b>*bold*</b> & \ 1.5!`, `<b>*bold*</b> & \ 1.5!`},

		{telegram.ParseModeMarkdownV2, "plain words", "plain words"},
		{telegram.ParseModeMarkdownV2, "_*[]()~`>#+-=|{}.!", "\\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|\\{\\}\\.\\!"},
		{telegram.ParseModeMarkdownV2, `C:\temp\new`, `C:\\temp\\new`},
		{telegram.ParseModeMarkdownV2, "Order #42 (9.99 €) is ready!", `Order \#42 \(9\.99 €\) is ready\!`},
		{telegram.ParseModeMarkdownV2, "<b>AT&T</b> 😀", `<b\>AT&T</b\> 😀`},
		{telegram.ParseModeMarkdownV2, "*not bold*", `\*not bold\*`},

		{telegram.ParseModeHTML, "plain words", "plain words"},
		{telegram.ParseModeHTML, "<b>bold</b>", "&lt;b&gt;bold&lt;/b&gt;"},
		{telegram.ParseModeHTML, "AT&T", "AT&amp;T"},
		{telegram.ParseModeHTML, "&amp; is literal", "&amp;amp; is literal"},
		{telegram.ParseModeHTML, `"quotes" and 'apostrophes'`, `"quotes" and 'apostrophes'`},
		{telegram.ParseModeHTML, "*_md_* #1. 😀", "*_md_* #1. 😀"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s", tt.mode, tt.body), func(t *testing.T) {
			t.Parallel()
			got := telegram.EscapeText(tt.mode, tt.body)
			require.Equal(t, tt.want, got)
			// Telegram's parser gives back the body, character for character.
			switch tt.mode {
			case telegram.ParseModeMarkdownV2:
				require.Equal(t, tt.body, unescapeMarkdownV2(got))
			case telegram.ParseModeHTML:
				require.Equal(t, tt.body, html.UnescapeString(got))
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const emoji = "😀" // outside the BMP: 1 code point, 2 UTF-16 units, 4 bytes
	require.Len(t, utf16.Encode([]rune(emoji)), 2)
	tests := []struct {
		name    string
		mode    string
		body    string
		wantErr string // "" means sent
	}{
		{"4096 ASCII", "", strings.Repeat("a", 4096), ""},
		{"4097 ASCII", "", strings.Repeat("a", 4097), "telegram: body has 4097 characters; the limit is 4096 (permanent)"},
		{"5000 ASCII", "", strings.Repeat("a", 5000), "telegram: body has 5000 characters; the limit is 4096 (permanent)"},
		// Telegram counts code points: 4096 emoji are 8192 UTF-16 units
		// and still fit.
		{"4096 emoji", "", strings.Repeat(emoji, 4096), ""},
		{"4097 emoji", "", strings.Repeat(emoji, 4097), "telegram: body has 4097 characters; the limit is 4096 (permanent)"},
		{"2048 e + combining acute = 4096 code points", "", strings.Repeat("e\u0301", 2048), ""},
		{"4095 Cyrillic + 1 emoji", "", strings.Repeat("ж", 4095) + emoji, ""},
		// The limit applies after entity parsing: escapes do not count.
		{"4096 dots in MarkdownV2", telegram.ParseModeMarkdownV2, strings.Repeat(".", 4096), ""},
		{"4096 ampersands in HTML", telegram.ParseModeHTML, strings.Repeat("&", 4096), ""},
		{"4097 ampersands in HTML", telegram.ParseModeHTML, strings.Repeat("&", 4097), "telegram: body has 4097 characters; the limit is 4096 (permanent)"},
		{"empty", "", "", "telegram: body is empty (permanent)"},
		{"only whitespace", "", " \n\t ", "telegram: body is empty (permanent)"},
		{"not UTF-8", "", "caf\xe9", "telegram: body is not valid UTF-8 (permanent)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newBotAPI(t, answer{status: 200, body: okAnswer})
			ch := newChannel(t, api.srv.URL, func(o *telegram.Options) { o.ParseMode = tt.mode })
			_, err := ch.Send(context.Background(), &channels.Message{To: "123456789", Body: tt.body})
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.EqualValues(t, 1, api.hits.Load())
				require.Equal(t, telegram.EscapeText(tt.mode, tt.body), (*api.last.Load()).Get("text"))
				return
			}
			channeltest.RequireClass(t, channels.Permanent, err)
			require.EqualError(t, err, tt.wantErr)
			require.Zero(t, api.hits.Load(), "no call is made")
		})
	}
}
