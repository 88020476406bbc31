// Package telegram is a Switchboard channel type (work in progress).
package telegram
