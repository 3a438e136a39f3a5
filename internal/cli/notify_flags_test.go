package cli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/chaosctl/chaosctl/notify"
)

// The notify flags are the [notify] keys; each error names its flag.
func TestNotifyFlags(t *testing.T) {
	tests := []struct {
		name string
		f    notifyFlags
		want notify.Config
		errs []string
	}{
		{"nothing", notifyFlags{}, notify.Config{}, nil},
		{"every key", notifyFlags{
			webhooks: []string{"http://a/h", "https://b/h"}, webhookEvents: []string{"start", "verdict"},
			slack: []string{"https://s/x"}, slackEvents: []string{"fault"},
			grafana: "http://g:3000", grafanaTokenFile: "/t", grafanaDashboardUID: "abc",
		}, notify.Config{
			Webhooks: []notify.Webhook{{URL: "http://a/h", Events: []string{"start", "verdict"}}, {URL: "https://b/h", Events: []string{"start", "verdict"}}},
			Slack:    []notify.Slack{{URL: "https://s/x", Events: []string{"fault"}}},
			Grafana:  notify.Grafana{URL: "http://g:3000", TokenFile: "/t", DashboardUID: "abc"},
		}, nil},
		{"bad values", notifyFlags{
			webhooks: []string{"ftp://a"}, webhookEvents: []string{"revert"},
			slack: []string{"https://s/x"}, slackEvents: []string{"nope"},
			grafana: "http://g", grafanaDashboardUID: "abc",
		}, notify.Config{}, []string{
			`--notify-webhook: "ftp://a": want an http:// or https:// URL`,
			`--notify-webhook-events: "revert" is not an event`,
			`--notify-slack-events: "nope" is not an event`,
			`--notify-grafana-token-file: required with grafana.url`,
		}},
		{"events without a URL", notifyFlags{webhookEvents: []string{"start"}, slackEvents: []string{"verdict"}}, notify.Config{}, []string{
			"--notify-webhook-events: applies to --notify-webhook, and there is none",
			"--notify-slack-events: applies to --notify-slack, and there is none",
		}},
		{"a dashboard without Grafana", notifyFlags{grafanaDashboardUID: "abc"}, notify.Config{}, []string{"--notify-grafana: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.f.config()
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(c, tt.want) {
					t.Fatalf("config %+v, want %+v", c, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.errs)
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\nwant it to say %q", err, want)
				}
			}
		})
	}
}
