package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// cmdCancel is `switchboard cancel ID`: POST /v1/messages/{id}/cancel.
func cmdCancel(ctx context.Context, args []string, stdout io.Writer) error {
	return messageCommand(ctx, "cancel", args, stdout, (*client.Client).Cancel)
}

func parseSendAt(s string, req *client.SendRequest) error {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%w: --send-at must be an RFC 3339 time, like 2026-11-23T18:00:00Z", errUsage)
	}
	req.SendAt = t
	return nil
}

// printDue says when a scheduled message goes out, and why it waits.
func printDue(w io.Writer, m *client.Message) {
	if m.Status != string(store.StatusScheduled) || m.NextAttemptAt == nil {
		return
	}
	fmt.Fprintf(w, "  due:     %s\n", dueLine(*m.NextAttemptAt, m.WaitReason))
}

// dueLine is a due time with its wait reason's support sentence.
func dueLine(at time.Time, why string) string {
	line := at.Local().Format(time.RFC3339)
	if r := reason.Parse(why); r.Known() {
		line += " (" + r.Sentence(reason.Facts{Channel: "the first channel"}) + "; " + why + ")"
	}
	return line
}
