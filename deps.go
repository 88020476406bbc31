//go:build tools

package switchboard

import (
	_ "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	_ "github.com/google/uuid"
	_ "github.com/labstack/echo/v5"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/sony/gobreaker/v2"
	_ "github.com/stretchr/testify/require"
	_ "github.com/twilio/twilio-go"
	_ "github.com/wneessen/go-mail"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/time/rate"
	_ "modernc.org/sqlite"
)
