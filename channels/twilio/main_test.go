package twilio_test

import (
	"encoding/base64"
	"os"
	"testing"

	"github.com/switchboard-gw/switchboard/internal/testpeers"
)

func TestMain(m *testing.M) { os.Exit(testpeers.Main(m)) }

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	testMG    = "MG0123456789abcdef0123456789abcdef"
)

// secrets are what no error may contain: the token and the Basic
// credentials built from it.
var secrets = []string{
	testToken,
	base64.StdEncoding.EncodeToString([]byte(testSID + ":" + testToken)),
}
