package notify

import (
	"encoding/json"
	"fmt"
	"strings"
)

// slackMessage is a Slack incoming-webhook payload: text is the whole
// message (and the notification's preview); blocks, the same in one
// section, for clients that render them.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks,omitempty"`
}

type slackBlock struct {
	Type string     `json:"type"`
	Text *slackText `json:"text,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func slackOf(text string) slackMessage {
	return slackMessage{Text: text, Blocks: []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: text}}}}
}

// slackEscape escapes what Slack's mrkdwn reads as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func slackStart(p Payload) slackMessage {
	return slackOf(fmt.Sprintf("chaosctl: *%s* started, run `%s`", slackEscape(p.Scenario), p.RunID))
}

func slackFault(p Payload) slackMessage {
	f := p.Fault
	text := fmt.Sprintf("chaosctl: *%s* run `%s`: fault %s %s", slackEscape(p.Scenario), p.RunID, slackEscape(faultLabel(f)), f.State)
	if f.Effect != "" {
		text += " (effect " + f.Effect + ")"
	}
	if f.Error != "" {
		text += ": " + slackEscape(f.Error)
	}
	return slackOf(text)
}

func slackVerdict(p Payload) slackMessage {
	v := p.Verdict
	mark := ":x:"
	if verdictOK(v.Verdict) {
		mark = ":white_check_mark:"
	}
	text := fmt.Sprintf("%s chaosctl: *%s* run `%s`: *%s* (exit %d)", mark, slackEscape(p.Scenario), p.RunID, v.Verdict, v.ExitCode)
	if d := durationOf(v); d != "" {
		text += ", recovered in " + d
	}
	for _, r := range v.Reasons {
		text += "\n• " + slackEscape(r)
	}
	return slackOf(text)
}

// mustJSON encodes v, which is one of this package's payload types: they
// always encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("notify: " + err.Error())
	}
	return b
}
