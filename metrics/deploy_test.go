package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/switchboard-gw/switchboard/store"
)

var metricName = regexp.MustCompile(`switchboard_[a-z_]+`)

// knownNames gathers every metric family the gateway exports, with the
// series names a histogram adds.
func knownNames(t *testing.T) map[string]bool {
	m := New()
	m.Accepted("p")
	m.Attempt("c", "sent", time.Millisecond)
	m.Failover("a", "b", "error")
	m.Finished(store.StatusDelivered, "c", "p")
	m.Receipt("c", store.AttemptDelivered, false)
	m.Probe("c", time.Millisecond, nil)
	m.Callback("delivered")
	m.RateLimited("k", 1)
	m.AdmissionRefused("p", "country_not_allowed")
	m.CallbacksDeferred("host_busy", 1)
	m.WatchChannels(fakeChannels{{Name: "c", Breaker: "closed", Health: "healthy"}})
	m.WatchQueue(fakeQueue{})
	mfs, err := m.Registry.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			names[n+suffix] = true
		}
	}
	return names
}

func requireKnown(t *testing.T, where string, exprs []string, names map[string]bool) {
	t.Helper()
	require.NotEmpty(t, exprs, where)
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			require.True(t, names[n], "%s: %q uses %s, which the gateway does not export", where, e, n)
		}
	}
}

// The shipped alert rules and dashboard only use metrics that exist, so a
// renamed metric cannot silently blind them.
func TestDeployFilesUseRealMetrics(t *testing.T) {
	t.Parallel()
	names := knownNames(t)

	raw, err := os.ReadFile("../deploy/alerts.yml")
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert)
			exprs = append(exprs, r.Expr)
		}
	}
	require.GreaterOrEqual(t, len(exprs), 4, "channel down, breaker open, failover rate, queue age")
	requireKnown(t, "alerts.yml", exprs, names)

	raw, err = os.ReadFile("../deploy/grafana-dashboard.json")
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	exprs = exprs[:0]
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	requireKnown(t, "grafana-dashboard.json", exprs, names)
	require.True(t, strings.Contains(string(raw), "switchboard_failovers_total"))
}
