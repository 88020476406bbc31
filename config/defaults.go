package config

import (
	"slices"
	"time"
)

// Defaults fill zero fields only. Parse applies them before decoding, so a
// key the YAML leaves out gets its default while an explicit zero
// ("attempts: 0") survives for validation to reject, instead of silently
// becoming the default.

// ApplyDefaults fills every zero field of c, its channels and its policies
// with its default. Parse and Load have already done this; it is for a
// Config built in code (tests, embedded configs) before Validate.
func (c *Config) ApplyDefaults() {
	c.Server.setDefaults()
	c.Store.setDefaults()
	c.Dispatch.setDefaults()
	c.Callbacks.setDefaults()
	c.Log.setDefaults()
	for _, ch := range c.Channels {
		ch.setDefaults()
	}
	for _, p := range c.Policies {
		p.setDefaults()
	}
}

func (s *Server) setDefaults() {
	if s.Listen == "" {
		s.Listen = ":8080"
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = 64 << 10
	}
	if s.ShutdownTimeout == 0 {
		s.ShutdownTimeout = Duration(15 * time.Second)
	}
}

func (s *Store) setDefaults() {
	if s.Driver == "" {
		s.Driver = "sqlite"
	}
	if s.DSN == "" && s.Driver == "sqlite" {
		s.DSN = "data/switchboard.db"
	}
}

func (d *Dispatch) setDefaults() {
	if d.Workers == 0 {
		d.Workers = 64
	}
	if d.BatchSize == 0 {
		d.BatchSize = 128
	}
	if d.Lease == 0 {
		// Short, because a crashed instance's messages wait this long
		// before another instance claims them; renewal every lease/3
		// keeps a slow route's lease for as long as its process lives.
		d.Lease = Duration(10 * time.Second)
	}
	if d.Poll == 0 {
		d.Poll = Duration(200 * time.Millisecond)
	}
}

func (l *Log) setDefaults() {
	if l.Level == "" {
		l.Level = "info"
	}
	if l.Format == "" {
		l.Format = "text"
	}
}

func (c *Callbacks) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = Duration(10 * time.Second)
	}
	if c.Horizon == 0 {
		c.Horizon = Duration(24 * time.Hour)
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.PerHost == 0 {
		c.PerHost = 2
	}
	// AllowPrivateNetworks (false) and AllowHosts (none) default to their
	// zero values: callbacks reach public addresses only.
}

func (c *Channel) setDefaults() {
	if c.SendTimeout == 0 {
		c.SendTimeout = Duration(10 * time.Second)
	}
	c.Retry.setDefaults()
	c.Breaker.setDefaults()
	c.Probe.setDefaults()
	c.Receipts.setDefaults()
}

// Receipt breaker defaults: they suit WhatsApp, SMS and email alike, as
// the deadlines come from each policy's receipt_timeout.
const (
	DefaultReceiptWindow       = 5 * time.Minute
	DefaultReceiptMinSends     = 5
	DefaultReceiptMinConfirmed = 0.2
	DefaultReceiptCanaryRatio  = 0.05
	DefaultReceiptRecoverAfter = 3
)

func (r *ReceiptHealth) setDefaults() {
	if r.Window == 0 {
		r.Window = Duration(DefaultReceiptWindow)
	}
	if r.MinSends == 0 {
		r.MinSends = DefaultReceiptMinSends
	}
	if r.MinConfirmedRatio == 0 {
		r.MinConfirmedRatio = DefaultReceiptMinConfirmed
	}
	if r.CanaryRatio == 0 {
		r.CanaryRatio = DefaultReceiptCanaryRatio
	}
	if r.RecoverAfter == 0 {
		r.RecoverAfter = DefaultReceiptRecoverAfter
	}
}

func (r *Retry) setDefaults() {
	if r.Attempts == 0 {
		r.Attempts = 3
	}
	if r.Backoff == 0 {
		r.Backoff = Duration(500 * time.Millisecond)
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = Duration(30 * time.Second)
	}
}

func (b *Breaker) setDefaults() {
	if b.Failures == 0 {
		b.Failures = 5
	}
	if b.OpenFor == 0 {
		b.OpenFor = Duration(30 * time.Second)
	}
	if b.HalfOpenRequests == 0 {
		b.HalfOpenRequests = 1
	}
}

func (p *Probe) setDefaults() {
	if p.Interval == 0 {
		p.Interval = Duration(10 * time.Second)
	}
	if p.Timeout == 0 {
		p.Timeout = Duration(5 * time.Second)
	}
	if p.FailAfter == 0 {
		p.FailAfter = 3
	}
	if p.RecoverAfter == 0 {
		p.RecoverAfter = 2
	}
}

func (p *Policy) setDefaults() {
	// nil, not empty: an explicit "failover_on: []" is kept for validation
	// to reject. Cloned so no policy can edit the shared AllTriggers.
	if p.FailoverOn == nil {
		p.FailoverOn = slices.Clone(AllTriggers)
	}
	if p.TTL == 0 {
		p.TTL = Duration(24 * time.Hour)
	}
	if p.OnAmbiguous == "" {
		p.OnAmbiguous = AmbiguousFailover
	}
}
