package whatsappcloud

import (
	"strings"

	"github.com/switchboard-gw/switchboard/channels"
)

// pricing is the pricing object of a status webhook: {"billable": true,
// "pricing_model": "PMP", "category": "utility", "type": "regular"}.
// Meta says whether it bills the message and in which category, never how
// much: the amount depends on the rate card for the recipient's country,
// which the webhook does not carry. So the receipt reports what Meta said
// (Free when billable is false, the category otherwise) and routing prices
// a billable category from the channel's declared cost (cost.per_category,
// else per_message), recorded as a declared cost with Meta's words as its
// detail.
type pricing struct {
	Billable     *bool  `json:"billable"`
	PricingModel string `json:"pricing_model"`
	Category     string `json:"category"`
	Type         string `json:"type"`
}

// price turns the pricing object into a receipt's price; nil without one.
func (p *pricing) price() *channels.Price {
	if p == nil || (p.Billable == nil && p.Category == "") {
		return nil
	}
	var d []string
	if p.Category != "" {
		d = append(d, "category="+p.Category)
	}
	if p.PricingModel != "" {
		d = append(d, "pricing_model="+p.PricingModel)
	}
	if p.Type != "" {
		d = append(d, "type="+p.Type)
	}
	free := p.Billable != nil && !*p.Billable
	if p.Billable != nil {
		if free {
			d = append(d, "billable=false")
		} else {
			d = append(d, "billable=true")
		}
	}
	return &channels.Price{Free: free, Category: clip(p.Category), Detail: clip("whatsapp pricing " + strings.Join(d, " "))}
}
