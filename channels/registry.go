package channels

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/switchboard-gw/switchboard/config"
)

// Deps is what the gateway hands every channel it builds.
type Deps struct {
	Logger   *slog.Logger
	Receipts ReceiptSink // where asynchronous delivery reports go
	// PublicURL is the gateway's externally reachable base URL
	// (server.public_url), for provider status callbacks; "" if unset.
	PublicURL string
}

// Factory builds a channel from its config. It must decode cfg.Options with
// cfg.DecodeOptions (strict: unknown keys are errors) and must not start
// network activity: Build is also used by `config validate`.
type Factory func(cfg *config.Channel, deps Deps) (Channel, error)

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
	// webhooks maps a webhook provider (the {provider} segment of the
	// API's webhook route) to the channel types that receive its callbacks.
	webhooks = map[string][]string{}
)

// Option declares more about a channel type at Register.
type Option func(typ string)

// Register makes a channel type available by the name used in YAML's
// `type:` key. It is called from the type package's init.
func Register(typ string, f Factory, opts ...Option) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[typ]; dup {
		panic("channels: type registered twice: " + typ)
	}
	registry[typ] = f
	for _, o := range opts {
		o(typ)
	}
}

// Types lists the registered channel types, sorted.
func Types() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Build builds one channel. Errors name the config file, line and channel.
func Build(cfg *config.Channel, deps Deps) (Channel, error) {
	regMu.RLock()
	f, ok := registry[cfg.Type]
	regMu.RUnlock()
	if !ok {
		return nil, &config.Error{File: cfg.File, Line: cfg.Line, Key: "channels." + cfg.Name + ".type",
			Msg: fmt.Sprintf("unknown channel type %q (known: %s)", cfg.Type, strings.Join(Types(), ", "))}
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	ch, err := f(cfg, deps)
	if err != nil {
		var ce *config.Error
		var ces config.Errors
		if errors.As(err, &ce) || errors.As(err, &ces) {
			return nil, err // already located by DecodeOptions
		}
		return nil, &config.Error{File: cfg.File, Line: cfg.Line, Key: "channels." + cfg.Name, Msg: err.Error()}
	}
	return ch, nil
}
