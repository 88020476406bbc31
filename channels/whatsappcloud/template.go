package whatsappcloud

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/switchboard-gw/switchboard/channels"
)

// Template makes the channel send every message as an approved WhatsApp
// message template instead of free-form text. Meta delivers free-form
// text only inside the 24-hour customer service window; a
// business-initiated message (an OTP, an order update) must be a template.
type Template struct {
	// Name is the approved template's name, as in WhatsApp Manager >
	// Message templates ("otp_code").
	Name string `yaml:"name"`
	// Language is the code of the template's approved translation
	// ("en_US", "pt_BR", "en").
	Language string `yaml:"language"`
	// BodyParams fill the body's {{1}}, {{2}}, ... in order. Each names
	// where the text comes from: "body" (the message's body), "subject"
	// or "metadata.KEY" (the message's metadata value for KEY).
	BodyParams []string `yaml:"body_params"`
	// ButtonParams fill the URL buttons' parameter, one per button, by
	// button index: the first is button 0. An authentication template's
	// copy-code button is a URL button that takes the code again.
	// Each is a source, as for BodyParams.
	ButtonParams []string `yaml:"button_params"`
}

var (
	// Meta names templates with lowercase letters, digits and "_", at
	// most 512 characters.
	templateNameRe = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	// Meta's language codes are "en", "fil", "en_US", "zh_HK": a hyphen
	// ("en-US", the BCP 47 spelling) is the usual mistake.
	languageRe = regexp.MustCompile(`^[a-z]{2,3}(_[A-Za-z]{2,4})?$`)
)

func (t *Template) validate() []problem {
	var ps []problem
	switch {
	case t.Name == "":
		ps = append(ps, problem{"template.name", errors.New("required: the approved template's name, as in WhatsApp Manager > Message templates")})
	case !templateNameRe.MatchString(t.Name):
		ps = append(ps, problem{"template.name", fmt.Errorf("must be lowercase letters, digits and _ (at most 512), as Meta names templates, got %q", t.Name)})
	}
	switch {
	case t.Language == "":
		ps = append(ps, problem{"template.language", errors.New("required: the language code of the template's approved translation, such as en_US")})
	case !languageRe.MatchString(t.Language):
		ps = append(ps, problem{"template.language", fmt.Errorf("must be a Meta language code such as en, en_US or pt_BR (with _, not -), got %q", t.Language)})
	}
	for i, s := range t.BodyParams {
		if _, err := channels.ParseParamSource(s); err != nil {
			ps = append(ps, problem{fmt.Sprintf("template.body_params[%d]", i), err})
		}
	}
	for i, s := range t.ButtonParams {
		if _, err := channels.ParseParamSource(s); err != nil {
			ps = append(ps, problem{fmt.Sprintf("template.button_params[%d]", i), err})
		}
	}
	return ps
}

// template is a validated Template, ready to fill.
type template struct {
	name, language string
	body, buttons  []channels.ParamSource
}

// compile turns a Template that passed validate into a template.
func (t *Template) compile() *template {
	ct := &template{name: t.Name, language: t.Language}
	for _, s := range t.BodyParams {
		src, _ := channels.ParseParamSource(s) // validated
		ct.body = append(ct.body, src)
	}
	for _, s := range t.ButtonParams {
		src, _ := channels.ParseParamSource(s) // validated
		ct.buttons = append(ct.buttons, src)
	}
	return ct
}

// templateBody is the Cloud API's "template" object: name, language and
// the components' parameters (a body component, and one component per
// URL button, identified by its index as a string).
type templateBody struct {
	Name       string              `json:"name"`
	Language   templateLanguage    `json:"language"`
	Components []templateComponent `json:"components,omitempty"`
}

type templateLanguage struct {
	Code string `json:"code"`
}

type templateComponent struct {
	Type       string          `json:"type"`               // "body" or "button"
	SubType    string          `json:"sub_type,omitempty"` // "url", buttons only
	Index      string          `json:"index,omitempty"`    // "0", "1", ..., buttons only
	Parameters []templateParam `json:"parameters"`
}

type templateParam struct {
	Type string `json:"type"` // "text"
	Text string `json:"text"`
}

// fill builds the template object for m. Its error says which parameter
// m cannot fill and why; the send fails as permanent, before any call.
func (t *template) fill(m *channels.Message) (*templateBody, error) {
	tb := &templateBody{Name: t.name, Language: templateLanguage{Code: t.language}}
	if len(t.body) > 0 {
		c := templateComponent{Type: "body"}
		for i, s := range t.body {
			v, err := s.Text(m)
			if err != nil {
				return nil, fmt.Errorf("template %s: body parameter {{%d}}: %w", t.name, i+1, err)
			}
			c.Parameters = append(c.Parameters, templateParam{Type: "text", Text: v})
		}
		tb.Components = append(tb.Components, c)
	}
	for i, s := range t.buttons {
		v, err := s.Text(m)
		if err != nil {
			return nil, fmt.Errorf("template %s: button %d parameter: %w", t.name, i, err)
		}
		tb.Components = append(tb.Components, templateComponent{Type: "button", SubType: "url", Index: strconv.Itoa(i),
			Parameters: []templateParam{{Type: "text", Text: v}}})
	}
	return tb, nil
}
