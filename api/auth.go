package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/config"
)

// keyring checks bearer keys in constant time. Its keys are swapped as a
// whole on a config reload, so a request sees either the old set or the new.
type keyring struct {
	keys atomic.Pointer[[]hashedKey]
	// guard throttles clients that fail authentication (api/authguard.go);
	// nil: no throttle.
	guard *authGuard
	clock func() time.Time // the guard's clock
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
			if err := k.refuseBlocked(c); err != nil {
				return err
			}
			h := c.Request().Header.Get("Authorization")
			scheme, token, found := strings.Cut(h, " ")
			if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
				k.failed(c, authMissing)
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
				return errorf(http.StatusUnauthorized, "unauthorized", "", "missing API key: send Authorization: Bearer <key>")
			}
			key, ok := k.lookup(strings.TrimSpace(token))
			if !ok {
				k.failed(c, authInvalid, "key_prefix", keyPrefix(strings.TrimSpace(token)))
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="switchboard", error="invalid_token"`)
				return errorf(http.StatusUnauthorized, "unauthorized", "", "invalid API key")
			}
			if !slices.Contains(roles, key.role) {
				k.failed(c, authForbidden, "key", key.name, "role", string(key.role))
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

// refuseBlocked answers 429 too_many_auth_failures, before looking at the
// key, to a client the guard has blocked.
func (k *keyring) refuseBlocked(c *echo.Context) error {
	if k.guard == nil {
		return nil
	}
	if retry, blocked := k.guard.blocked(k.guard.clientIP(c.Request()), k.clock()); blocked {
		return &Error{Status: http.StatusTooManyRequests, Code: "too_many_auth_failures", RetryAfter: retry,
			Message: fmt.Sprintf("too many failed authentications from this address: every request is refused for %d s, even with a valid key", retry)}
	}
	return nil
}

// failed tells the guard about a failed authentication.
func (k *keyring) failed(c *echo.Context, reason string, attrs ...any) {
	if k.guard != nil {
		k.guard.failed(k.guard.clientIP(c.Request()), k.clock(), reason, c.Request().URL.Path, attrs...)
	}
}
