// Package integration holds in-process gateway tests against the real
// protocol peers (Prism serving Twilio's OpenAPI spec, maildev,
// telegram-test-api), started on loopback by internal/testpeers.
package integration
