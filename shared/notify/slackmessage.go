package notify

import (
	"fmt"
	"strings"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"
)

// Slack's limits on the parts of a message: a header's text is at most 150 characters, a
// field's 2,000, a section's 3,000 (https://docs.slack.dev/reference/block-kit/blocks).
const (
	maxHeader  = 150
	maxSection = 3000
)

// mrkdwnEscaper escapes the three characters Slack reads as control sequences in mrkdwn, so
// that a title cannot @-mention a channel or forge a link.
var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// EscapeMrkdwn makes s literal text in a Slack mrkdwn field.
func EscapeMrkdwn(s string) string { return mrkdwnEscaper.Replace(s) }

// Truncate keeps at most n characters of s, the last an ellipsis when it was longer.
func Truncate(s string, n int) string { return truncate(s, n) }

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// SlackMessage is the Block Kit message a notification posts for an occurrence: the
// notification's title as the header, what happened, then the event, project, task, label,
// user and time as fields. Text is the fallback Slack shows in notifications.
func SlackMessage(title string, o Occurrence) slackgo.WebhookMessage {
	field := func(name, value string) *slackgo.TextBlockObject {
		return slackgo.NewTextBlockObject(slackgo.MarkdownType, fmt.Sprintf("*%s*\n%s", name, value), false, false)
	}
	code := func(s string) string { return "`" + mrkdwnEscaper.Replace(s) + "`" }
	fields := []*slackgo.TextBlockObject{
		field("Event", code(string(o.Event))),
		field("Project", code(o.ProjectHash)),
		field("Task", code(o.TaskID)),
	}
	if o.LabelHash != "" {
		fields = append(fields, field("Label", code(o.LabelHash)))
	}
	// <!date^…> shows the time in each reader's own time zone; the text after | is what
	// clients that cannot render it show.
	when := fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", o.OccurredAt.Unix(), o.OccurredAt.UTC().Format("2006-01-02 15:04 UTC"))
	fields = append(fields, field("User", mrkdwnEscaper.Replace(o.Actor)), field("Time", when))

	summary := truncate(mrkdwnEscaper.Replace(o.Summary), maxSection)
	blocks := []slackgo.Block{
		slackgo.NewHeaderBlock(slackgo.NewTextBlockObject(slackgo.PlainTextType, truncate(title, maxHeader), false, false)),
		slackgo.NewSectionBlock(slackgo.NewTextBlockObject(slackgo.MarkdownType, summary, false, false), nil, nil),
		slackgo.NewSectionBlock(nil, fields, nil),
	}
	return slackgo.WebhookMessage{
		Text:   truncate(mrkdwnEscaper.Replace(title+": "+o.Summary), maxSection),
		Blocks: &slackgo.Blocks{BlockSet: blocks},
	}
}
