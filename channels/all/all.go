// Package all registers every channel type. Import it for its side effect.
package all

import (
	_ "github.com/switchboard-gw/switchboard/channels/sim"
	_ "github.com/switchboard-gw/switchboard/channels/smtp"
	_ "github.com/switchboard-gw/switchboard/channels/telegram"
	_ "github.com/switchboard-gw/switchboard/channels/twilio"
	_ "github.com/switchboard-gw/switchboard/channels/whatsappcloud"
)
