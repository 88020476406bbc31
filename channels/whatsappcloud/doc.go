// Package whatsappcloud is a Switchboard channel type (work in progress).
package whatsappcloud
