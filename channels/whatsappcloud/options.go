package whatsappcloud

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/switchboard-gw/switchboard/config"
)

const (
	// DefaultAPIVersion is the Graph API version calls are pinned to. It
	// is the newest version on 2026-11-23 (released 2026-07-29, expiry not
	// yet announced); v21.0 expires on 2027-01-21, v25.0 on 2028-07-29.
	// Graph versions live about two years, so bump this when a new one
	// ships; the send and phone-number fields used here have not changed
	// across versions.
	DefaultAPIVersion = "v26.0"
	// DefaultEndpoint is the Graph API's base URL.
	DefaultEndpoint = "https://graph.facebook.com"
)

// Options are the whatsapp-cloud channel's type-specific YAML keys.
type Options struct {
	// PhoneNumberID is the business phone number's Graph id (not the
	// phone number itself): WhatsApp Manager > API Setup.
	PhoneNumberID string `yaml:"phone_number_id"`
	// PhoneNumberIDs, in place of PhoneNumberID, picks the business phone
	// number by the destination's country: country code (ISO 3166
	// alpha-2, or "default") to phone number id (see senders.go).
	PhoneNumberIDs map[string]string `yaml:"phone_number_ids"`
	// Token is a system-user access token with whatsapp_business_messaging
	// permission, sent as a bearer token.
	Token config.Secret `yaml:"token"`
	// AppSecret is the Meta app's secret; webhook POSTs are signed with it
	// (X-Hub-Signature-256). Without it every webhook is refused.
	AppSecret config.Secret `yaml:"app_secret"`
	// VerifyToken is the string typed into the app dashboard's "Verify
	// token" field; Meta echoes it in the GET verification handshake.
	VerifyToken config.Secret `yaml:"verify_token"`
	// APIVersion is the Graph API version, "v26.0".
	APIVersion string `yaml:"api_version"`
	// Endpoint is the Graph API base URL; tests point it at a fake.
	Endpoint string `yaml:"endpoint"`
	// Template, when set, sends every message as this approved template
	// instead of free-form text (see Template).
	Template *Template `yaml:"template"`
}

// DefaultOptions are the values used for keys the YAML leaves out.
func DefaultOptions() Options {
	return Options{APIVersion: DefaultAPIVersion, Endpoint: DefaultEndpoint}
}

var (
	digitsRe     = regexp.MustCompile(`^[0-9]+$`)
	apiVersionRe = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)
)

// problem is one invalid option, named by its YAML key so the factory can
// point at the line.
type problem struct {
	key string
	err error
}

func (o *Options) validate() []problem {
	var ps []problem
	switch {
	case o.PhoneNumberIDs != nil:
		ps = append(ps, o.validateIDs()...)
	case o.PhoneNumberID == "":
		ps = append(ps, problem{"phone_number_id", errors.New("required (or phone_number_ids by country): the business phone number's id from WhatsApp Manager > API Setup")})
	case !digitsRe.MatchString(o.PhoneNumberID):
		// The value is not quoted: it may have come from the environment,
		// and a misplaced ${VAR} can be a secret.
		ps = append(ps, problem{"phone_number_id", errors.New("must be digits only: the Graph id from WhatsApp Manager > API Setup, not the phone number")})
	}
	if o.Token == "" {
		ps = append(ps, problem{"token", errors.New("required: a system-user access token with whatsapp_business_messaging permission")})
	}
	if !apiVersionRe.MatchString(o.APIVersion) {
		ps = append(ps, problem{"api_version", fmt.Errorf("must look like %q, got %q", DefaultAPIVersion, o.APIVersion)})
	}
	if err := checkEndpoint(o.Endpoint); err != nil {
		ps = append(ps, problem{"endpoint", err})
	}
	if o.Template != nil {
		ps = append(ps, o.Template.validate()...)
	}
	return ps
}

func checkEndpoint(s string) error {
	// Not quoted, as for phone_number_id: it may hold credentials.
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("must be an http or https URL such as %s", DefaultEndpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must be a base URL without user, query or fragment")
	}
	return nil
}

// base is the endpoint and version every request path for phone number id
// starts with.
func (o *Options) base(id string) string {
	return strings.TrimRight(o.Endpoint, "/") + "/" + o.APIVersion + "/" + id
}
