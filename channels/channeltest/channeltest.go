// Package channeltest holds checks every channel type's tests run.
package channeltest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard-gw/switchboard/channels"
)

// RequireNoSecret fails the test if any error's text, in any fmt verb,
// contains one of the secrets (tokens, passwords, auth headers derived
// from them). Run it on the errors of failed sends and probes: those are
// stored on attempts and logged.
func RequireNoSecret(t testing.TB, secrets []string, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err == nil {
			continue
		}
		for _, text := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			for _, s := range secrets {
				if s != "" && strings.Contains(text, s) {
					t.Fatalf("error leaks a secret: %q", text)
				}
			}
		}
	}
}

// RequireClass fails the test unless err is classified as want.
func RequireClass(t testing.TB, want channels.Class, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("want a %s error, got nil", want)
	}
	if got := channels.ClassOf(err); got != want {
		t.Fatalf("want class %s, got %s: %v", want, got, err)
	}
}
