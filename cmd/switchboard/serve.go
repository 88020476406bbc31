package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/switchboard-gw/switchboard"
	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: the embedded config.example.yaml: sim channels, dev keys)")
	listen := fs.String("listen", "", "listen address, overrides server.listen")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		return err
	}
	slog.SetDefault(log)

	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
	}
	return g.Run(ctx, ln)
}

// loadConfig loads path, or the embedded example config when path is "".
// Channel options are checked too, so a typo in a channel fails at start
// with its line rather than at the first send.
func loadConfig(path string) (*config.Config, error) {
	var (
		cfg *config.Config
		err error
	)
	if path == "" {
		cfg, err = config.Parse("config.example.yaml (embedded)", switchboard.ExampleConfig)
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		return nil, err
	}
	if err := checkChannels(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// checkChannels builds every channel without starting it, to validate the
// type-specific options.
func checkChannels(cfg *config.Config) error {
	var errs config.Errors
	for _, cc := range cfg.Channels {
		ch, err := channels.Build(cc, channels.Deps{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			errs = append(errs, asConfigErrors(err)...)
			continue
		}
		if c, ok := ch.(channels.Closer); ok {
			_ = c.Close()
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func asConfigErrors(err error) config.Errors {
	switch e := err.(type) {
	case config.Errors:
		return e
	case *config.Error:
		return config.Errors{e}
	}
	return config.Errors{{Msg: err.Error()}}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want text or json", errUsage, format)
}

func cmdConfig(args []string, stdout io.Writer) error {
	if len(args) < 1 || args[0] != "validate" {
		return fmt.Errorf("%w: want \"config validate FILE\"", errUsage)
	}
	if len(args) != 2 {
		return fmt.Errorf("%w: want \"config validate FILE\"", errUsage)
	}
	cfg, err := loadConfig(args[1])
	if err != nil {
		return fmt.Errorf("%s is not valid:\n%w", args[1], err)
	}
	fmt.Fprintf(stdout, "%s: ok: %s\n", args[1], cfg.Summary())
	return nil
}
