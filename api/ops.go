package api

import "github.com/labstack/echo/v5"

// registerOps adds the operator endpoints (config reload).
func (s *Server) registerOps(e *echo.Echo, v1 *echo.Group) {}
