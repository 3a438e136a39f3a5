// Package notify turns a run's events into notifications: JSON webhooks,
// Grafana annotations and Slack-compatible messages. Delivery is queued and
// sent from a goroutine of its own, with bounded retries; it never blocks
// a run and never changes its verdict.
//
// It is a top-level package, beside journal, because both the daemon and
// `chaosctl run` attach it, and the webhook payload is a documented,
// versioned contract (README.md, Notifications) that receivers outside this
// module depend on.
package notify

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Event names a receiver may subscribe to (Webhook.Events, Slack.Events).
const (
	EventStart   = "start"   // the run started
	EventFault   = "fault"   // a fault was injected, reverted, or failed
	EventVerdict = "verdict" // the run is over
)

// eventNames is every name Events accepts, in the order of a run.
var eventNames = []string{EventStart, EventFault, EventVerdict}

// Config is where notifications go: the daemon's [notify] section, or
// `chaosctl run`'s --notify-* flags. The zero Config sends nothing.
type Config struct {
	Webhooks []Webhook `toml:"webhook"`
	Grafana  Grafana   `toml:"grafana"`
	Slack    []Slack   `toml:"slack"`
}

// Webhook receives the JSON payload (Payload) of each event it asks for.
type Webhook struct {
	URL    string   `toml:"url"`
	Events []string `toml:"events"` // default: all of start, fault, verdict
}

// Grafana receives annotations: a region per fault, from injection to
// revert, and a region for the run with its verdict.
type Grafana struct {
	URL          string `toml:"url"`           // Grafana's base URL; "" disables it
	TokenFile    string `toml:"token_file"`    // a service account token, sent as a bearer token
	DashboardUID string `toml:"dashboard_uid"` // optional: annotate one dashboard, not the organisation
}

// Slack receives a Slack incoming-webhook message ({"text", "blocks"}).
type Slack struct {
	URL    string   `toml:"url"`
	Events []string `toml:"events"` // default: verdict
}

// Enabled reports whether c sends anything.
func (c Config) Enabled() bool {
	return len(c.Webhooks) > 0 || c.Grafana.URL != "" || len(c.Slack) > 0
}

// KeyError is one thing wrong with a Config, named by its key path
// (notify.webhook[0].url) so the daemon can place it in its file.
type KeyError struct{ Key, Msg string }

func (e KeyError) Error() string { return e.Key + ": " + e.Msg }

// Check returns what is wrong with c, key by key, with keys under prefix
// ("notify" for the daemon's section).
func (c Config) Check(prefix string) []KeyError {
	var errs []KeyError
	bad := func(key, format string, args ...any) {
		errs = append(errs, KeyError{prefix + "." + key, fmt.Sprintf(format, args...)})
	}
	checkURL := func(key, u string) {
		if msg := urlProblem(u); msg != "" {
			bad(key, "%s", msg)
		}
	}
	checkEvents := func(key string, evs []string) {
		for i, e := range evs {
			if !slices.Contains(eventNames, e) {
				bad(fmt.Sprintf("%s[%d]", key, i), "%q is not an event: want %s", e, strings.Join(eventNames, ", "))
			}
		}
	}
	for i, w := range c.Webhooks {
		checkURL(fmt.Sprintf("webhook[%d].url", i), w.URL)
		checkEvents(fmt.Sprintf("webhook[%d].events", i), w.Events)
	}
	for i, s := range c.Slack {
		checkURL(fmt.Sprintf("slack[%d].url", i), s.URL)
		checkEvents(fmt.Sprintf("slack[%d].events", i), s.Events)
	}
	g := c.Grafana
	switch {
	case g.URL != "":
		checkURL("grafana.url", g.URL)
		if g.TokenFile == "" {
			bad("grafana.token_file", "required with grafana.url: Grafana's API needs a token (it is read from this file, never written inline)")
		}
	case g.TokenFile != "" || g.DashboardUID != "":
		bad("grafana.url", "required: token_file and dashboard_uid apply to a Grafana URL")
	}
	return errs
}

// urlProblem says what is wrong with u as a receiver's URL, "" when
// nothing is.
func urlProblem(u string) string {
	if u == "" {
		return "required"
	}
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Sprintf("%q is not a URL: %v", u, err)
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return fmt.Sprintf("%q: want an http:// or https:// URL", u)
	}
	if p.Host == "" {
		return fmt.Sprintf("%q has no host", u)
	}
	return ""
}

// wants reports whether a receiver with the events list evs (nil: def)
// takes event.
func wants(evs, def []string, event string) bool {
	if len(evs) == 0 {
		evs = def
	}
	return slices.Contains(evs, event)
}
