// Package switchboard holds what the module ships as files: the example
// configuration that `switchboard serve` runs when given no --config.
package switchboard

import _ "embed"

// ExampleConfig is config.example.yaml: sim channels, development keys,
// no credentials needed.
//
//go:embed config.example.yaml
var ExampleConfig []byte
