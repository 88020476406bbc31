package api

import "github.com/labstack/echo/v5"

// registerAPIDocs adds the API description and batch endpoints.
func (s *Server) registerAPIDocs(e *echo.Echo, v1 *echo.Group) {}
