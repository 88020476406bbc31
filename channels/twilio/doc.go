// Package twilio is a Switchboard channel type (work in progress).
package twilio
