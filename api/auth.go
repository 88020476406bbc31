package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/config"
)

// keyring checks bearer keys in constant time. Its keys are swapped as a
// whole on a config reload, so a request sees either the old set or the new.
type keyring struct {
	keys atomic.Pointer[[]hashedKey]
}

type hashedKey struct {
	name string
	role config.Role
	sum  [sha256.Size]byte
}

func newKeyring(keys []config.APIKey) *keyring {
	k := &keyring{}
	k.set(keys)
	return k
}

// set replaces every key at once.
func (k *keyring) set(keys []config.APIKey) {
	hashed := make([]hashedKey, 0, len(keys))
	for _, key := range keys {
		hashed = append(hashed, hashedKey{name: key.Name, role: key.Role, sum: sha256.Sum256([]byte(key.Key.Reveal()))})
	}
	k.keys.Store(&hashed)
}

// lookup compares the presented key with every configured key, always all
// of them and always on fixed-length hashes, so neither the position of the
// matching key nor the length of a real key shows in the timing.
func (k *keyring) lookup(presented string) (hashedKey, bool) {
	sum := sha256.Sum256([]byte(presented))
	var found hashedKey
	ok := 0
	for _, key := range *k.keys.Load() {
		if subtle.ConstantTimeCompare(sum[:], key.sum[:]) == 1 {
			found = key
			ok = 1
		}
	}
	return found, ok == 1
}

const (
	ctxKeyName = "switchboard.key"
	ctxKeyRole = "switchboard.role" // the key's config.Role
)

// requireRole authenticates the bearer key and allows only the given roles.
func (k *keyring) requireRole(roles ...config.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			h := c.Request().Header.Get("Authorization")
			scheme, token, found := strings.Cut(h, " ")
			if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
				return errorf(http.StatusUnauthorized, "unauthorized", "", "missing API key: send Authorization: Bearer <key>")
			}
			key, ok := k.lookup(strings.TrimSpace(token))
			if !ok {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="switchboard", error="invalid_token"`)
				return errorf(http.StatusUnauthorized, "unauthorized", "", "invalid API key")
			}
			if !slices.Contains(roles, key.role) {
				return errorf(http.StatusForbidden, "forbidden", "", "API key %q has role %s; this endpoint needs %s", key.name, key.role, joinRoles(roles))
			}
			c.Set(ctxKeyName, key.name)
			c.Set(ctxKeyRole, key.role)
			return next(c)
		}
	}
}

func joinRoles(roles []config.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}
