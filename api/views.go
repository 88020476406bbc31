package api

import "github.com/switchboard-gw/switchboard/api/view"

// The API's views live in api/view, which the dashboard (api/ui) renders
// too; these are their names in this package.
type (
	MessageView  = view.MessageView
	CallbackView = view.CallbackView
	AttemptView  = view.AttemptView
	ChannelView  = view.ChannelView
	ReceiptsView = view.ReceiptsView
	ProbeView    = view.ProbeView
)
