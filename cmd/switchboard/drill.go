package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchboard-gw/switchboard/drill"
)

// errTargetsMissed: the drill ran and a target in the scenario was missed.
var errTargetsMissed = errors.New("targets missed")

// cmdDrill runs an outage drill: an in-process gateway on 127.0.0.1 with
// sim channels, steady traffic, a timeline of outages, and a report checked
// against the scenario's targets (exit 1 if one is missed).
func cmdDrill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", "", "scenario file (drills/*.yaml)")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file (- for stdout)")
	logFile := fs.String("log", "", "write the gateway's log (warn and above) to this file")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: switchboard drill --scenario FILE [--json OUT.json]\n\n"+
			"Rehearses an outage: starts a gateway in this process (127.0.0.1, SQLite in a temp\n"+
			"dir, the scenario's sim channels), drives steady traffic, applies the scenario's\n"+
			"timeline (channels down, silent, flaky, back up), follows every message and every\n"+
			"breaker, prints a report and checks the scenario's targets. Exit 1 if one is missed;\n"+
			"losing an accepted message is always a miss.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *scenario == "" && fs.NArg() == 1 {
		*scenario = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *scenario == "" {
		return fmt.Errorf("%w: --scenario is required", errUsage)
	}
	sc, err := drill.Load(*scenario)
	if err != nil {
		return err
	}
	opts := drill.Options{}
	if !*quiet {
		opts.Progress = stderr
	}
	if *logFile != "" {
		f, err := os.Create(*logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		opts.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	rep, err := drill.Run(ctx, sc, opts)
	if err != nil {
		return err
	}
	rep.Print(stdout)
	if *jsonOut != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		data = append(data, '\n')
		if *jsonOut == "-" {
			_, err = stdout.Write(data)
		} else {
			err = os.WriteFile(*jsonOut, data, 0o644)
		}
		if err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if missed := rep.Missed(); len(missed) > 0 {
		return fmt.Errorf("%w: %d of %d (see the report)", errTargetsMissed, len(missed), len(rep.Checks))
	}
	return nil
}
