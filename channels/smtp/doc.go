// Package smtp is a Switchboard channel type (work in progress).
package smtp
