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
	"github.com/switchboard-gw/switchboard/pii"
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: the embedded config.example.yaml: sim channels, dev keys)")
	listen := fs.String("listen", "", "listen address, overrides server.listen")
	level := fs.String("log-level", "", "log level: debug, info, warn, error (overrides log.level; default info)")
	format := fs.String("log-format", "", "log format: text or json (overrides log.format; default text)")
	watch := fs.Bool("watch-config", true, "reload when the --config file changes (SIGHUP and POST /-/reload always work)")
	dev := fs.Bool("dev", false, "allow the example config's published API keys on an address other machines can reach (demos only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tuneGC(os.Getenv)
	// Before anything slow: SIGHUP's default action would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// Flag values are checked before the config is read: a typo is a
	// usage error.
	if err := checkLogFlags(*level, *format); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	// Applied to every reloaded config too, so a reload does not see a
	// flag's value as a change of server.listen or log.*: the flags win
	// over the file, on reload as at start.
	adjust := func(c *config.Config) {
		if *listen != "" {
			c.Server.Listen = *listen
		}
		if *level != "" {
			c.Log.Level = strings.ToLower(*level)
		}
		if *format != "" {
			c.Log.Format = strings.ToLower(*format)
		}
	}
	adjust(cfg)
	levelVar := new(slog.LevelVar) // gateway.New sets it; a reload changes it
	log := newLogger(stderr, levelVar, cfg.Log.Format)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Before anything opens: a published key on a public address is a
	// config error (gateway.Run checks the bound address again).
	if !*dev {
		if err := cfg.CheckPublishedKeys(); err != nil {
			return err
		}
	}
	g, err := gateway.New(ctx, cfg, gateway.Options{
		Logger: log, LogLevel: levelVar, ConfigFile: *path, Adjust: adjust, WatchConfig: *watch && *path != "", Dev: *dev,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if *path == "" {
					log.Warn("SIGHUP: nothing to reload: the gateway runs the embedded example config; start it with --config FILE")
					continue
				}
				log.Info("config reload requested", "source", "SIGHUP", "config", *path)
				_, _ = g.Reload(ctx) // Reload logs the outcome
			}
		}
	}()
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

// checkLogFlags checks --log-level and --log-format; "" means not given.
func checkLogFlags(level, format string) error {
	if level != "" {
		if _, err := config.ParseLogLevel(level); err != nil {
			return fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
		}
	}
	switch strings.ToLower(format) {
	case "", "text", "json":
		return nil
	}
	return fmt.Errorf("%w: --log-format %q: want text or json", errUsage, format)
}

// newLogger logs to w in format (text or json, validated) at level. Every
// line goes through pii.NewHandler: phone numbers and email addresses are
// masked even where an error message quotes one.
func newLogger(w io.Writer, level slog.Leveler, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if strings.EqualFold(format, "json") {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(pii.NewHandler(h))
}

func cmdConfig(args []string, stdout io.Writer) error {
	const want = "want \"config validate FILE\" or \"config diff OLD NEW\""
	if len(args) < 1 {
		return fmt.Errorf("%w: %s", errUsage, want)
	}
	switch {
	case args[0] == "validate" && len(args) == 2:
		cfg, err := loadConfig(args[1])
		if err != nil {
			return fmt.Errorf("%s is not valid:\n%w", args[1], err)
		}
		fmt.Fprintf(stdout, "%s: ok: %s\n", args[1], cfg.Summary())
		return nil
	case args[0] == "diff" && len(args) == 3:
		return configDiff(args[1], args[2], stdout)
	}
	return fmt.Errorf("%w: %s", errUsage, want)
}

// configDiff prints what a reload from oldPath to newPath would change.
// Both files must be valid: a reload of an invalid file changes nothing.
func configDiff(oldPath, newPath string, stdout io.Writer) error {
	var cfgs [2]*config.Config
	for i, p := range []string{oldPath, newPath} {
		cfg, err := loadConfig(p)
		if err != nil {
			return fmt.Errorf("%s is not valid:\n%w", p, err)
		}
		cfgs[i] = cfg
	}
	d := config.Compare(cfgs[0], cfgs[1])
	fmt.Fprintln(stdout, d.String())
	if r := d.NeedsRestart(); len(r) > 0 {
		fmt.Fprintf(stdout, "\n%d change(s) need a restart: a reload of %s would be refused.\n", len(r), newPath)
	}
	return nil
}
