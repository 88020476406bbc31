package api

import (
	_ "embed"
	"net/http"
	"sort"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/config"
)

// OpenAPI is the API's OpenAPI 3.1 description, served at
// GET /v1/openapi.json. api/openapi_test.go checks real responses against
// it and that it names exactly the routes the server has.
//
//go:embed openapi.json
var OpenAPI []byte

// registerAPIDocs adds the API description and batch endpoints.
func (s *Server) registerAPIDocs(e *echo.Echo, v1 *echo.Group) {
	// The description is public: it holds no secrets, and tools fetch it
	// before they have a key.
	v1.GET("/openapi.json", func(c *echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=300")
		return c.Blob(http.StatusOK, "application/json", OpenAPI)
	})
	v1.POST("/messages/batch", s.sendBatch, s.keys.requireRole(config.RoleSend, config.RoleAdmin))
}

// Route is one method and path the server answers, in echo's syntax
// (/v1/messages/:id).
type Route struct {
	Method string
	Path   string
}

// Routes lists every route the server answers, sorted by path then method.
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.echo.Router().Routes() {
		out = append(out, Route{Method: r.Method, Path: r.Path})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}
