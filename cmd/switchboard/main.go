// Command switchboard is the Switchboard gateway and its CLI.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `switchboard: multi-channel failover messaging gateway

Usage:
  switchboard serve [--config FILE] [--listen ADDR]   run the gateway
  switchboard send [flags]                            send a message through a running gateway
  switchboard status [flags] ID                       show a message and its attempts
  switchboard cancel [flags] ID                       cancel a scheduled or queued message
  switchboard config validate FILE                    check a config file
  switchboard config diff OLD NEW                     what a reload from OLD to NEW would change
  switchboard routes explain [flags]                  where a message would go, offline (--assume-down: what if)
  switchboard drill --scenario FILE [--json OUT]      replay an outage scenario on sim channels, check its targets
  switchboard version                                 print the version

Run "switchboard COMMAND -h" for a command's flags.
`

// errUsage marks errors the user fixes by reading the usage (exit 2).
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stderr)
	case "send":
		err = cmdSend(ctx, args[1:], stdout)
	case "status":
		err = cmdStatus(ctx, args[1:], stdout)
	case "cancel":
		err = cmdCancel(ctx, args[1:], stdout)
	case "config":
		err = cmdConfig(args[1:], stdout)
	case "routes":
		err = cmdRoutes(args[1:], stdout, stderr)
	case "drill":
		err = cmdDrill(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "switchboard %s\n", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "switchboard: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "switchboard %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "switchboard %s: %v\n", args[0], err)
		return 1
	}
}
