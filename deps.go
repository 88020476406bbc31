//go:build tools

package switchboard

import (
	_ "github.com/google/uuid"
	_ "github.com/labstack/echo/v5"
	_ "github.com/sony/gobreaker/v2"
	_ "github.com/stretchr/testify/require"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/time/rate"
	_ "modernc.org/sqlite"
)
