// Package render turns a digest into what people read: an email and a Slack message. It is
// apart from package digest so that the stores and the router, which record activity, do not
// link Slack's client.
package render

import (
	"bytes"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/heraldhq/herald/events/payloads"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/mail"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/notify"
)

// Totals counts a digest's activity over all its projects.
type Totals struct {
	Submitted, Reviewed, Rejected int
}

// TotalsOf adds up a digest's projects.
func TotalsOf(p payloads.DigestPayload) Totals {
	var t Totals
	for _, ps := range p.ProjectsStats {
		for _, a := range ps.AnnotatorStats {
			t.Submitted += a.SubmittedLabels
		}
		for _, r := range ps.ReviewerStats {
			t.Reviewed += r.ReviewedLabels
			t.Rejected += r.RejectedLabels
		}
	}
	return t
}

// periodText renders a digest's period for people, in UTC.
func periodText(p payloads.Period) string {
	start, err1 := time.Parse(time.RFC3339, p.Start)
	end, err2 := time.Parse(time.RFC3339, p.End)
	if err1 != nil || err2 != nil {
		return p.Start + " – " + p.End
	}
	return start.UTC().Format("2006-01-02 15:04") + " – " + end.UTC().Format("2006-01-02 15:04 UTC")
}

func millis(v *int64) string {
	if v == nil {
		return "–"
	}
	return (time.Duration(*v) * time.Millisecond).Round(time.Second).String()
}

func rate(v *float64) string {
	if v == nil {
		return "–"
	}
	return strconv.FormatFloat(*v*100, 'f', 1, 64) + " %"
}

// DigestEmail is the email of one digest to one recipient: a table of annotators and one of
// reviewers per project, in HTML and plain text, with the mailer's one-click unsubscribe
// headers, which take the address off this notification. id names the email for the outbox
// and for deduplication; it is the same each time this digest is sent to this recipient.
func DigestEmail(id, from, title, tenant, address, notificationID string, p payloads.DigestPayload, links mailbatch.Links) (mail.Email, error) {
	t := TotalsOf(p)
	summary := "no activity"
	if !digest.Empty(p) {
		summary = fmt.Sprintf("%d labels submitted, %d reviewed, %d rejected", t.Submitted, t.Reviewed, t.Rejected)
	}
	unsubscribe := links.URL(tenant, address, []string{notificationID})
	projects := make([]projectView, len(p.ProjectsStats))
	for i, ps := range p.ProjectsStats {
		projects[i] = viewOf(ps)
	}
	var text strings.Builder
	fmt.Fprintf(&text, "%s: digest for %s\n%s.\n\n", title, periodText(p.Period), capitalise(summary))
	for _, ps := range projects {
		fmt.Fprintf(&text, "Project %s\n", ps.ProjectHash)
		if len(ps.AnnotatorStats)+len(ps.ReviewerStats) == 0 {
			text.WriteString("  No activity.\n\n")
			continue
		}
		for _, a := range ps.AnnotatorStats {
			fmt.Fprintf(&text, "  annotator %s: %d submitted, %d accepted, %d rejected, avg add %s, avg edit %s, rejection rate %s\n",
				a.UserEmail, a.SubmittedLabels, a.AcceptedLabels, a.RejectedLabels, millis(a.AvgTimeForAdd), millis(a.AvgTimeForEdit), rate(a.RejectionRate))
		}
		for _, r := range ps.ReviewerStats {
			fmt.Fprintf(&text, "  reviewer %s: %d reviewed, %d approved, %d rejected, avg review %s\n",
				r.UserEmail, r.ReviewedLabels, r.ApprovedLabels, r.RejectedLabels, millis(r.AvgTimeForReview))
		}
		if ps.More != "" {
			fmt.Fprintf(&text, "  %s\n", ps.More)
		}
		text.WriteString("\n")
	}
	fmt.Fprintf(&text, "You get this email because %s is a recipient of %q.\nStop these emails: %s\n", address, title, unsubscribe)

	var html bytes.Buffer
	err := digestHTML.Execute(&html, map[string]any{
		"Title": title, "Period": periodText(p.Period), "Summary": capitalise(summary), "Projects": projects,
		"Address": address, "Unsubscribe": unsubscribe,
	})
	if err != nil {
		return mail.Email{}, fmt.Errorf("render digest email: %w", err)
	}
	return mail.Email{
		ID: id, From: from, To: []string{address},
		Subject: notify.Truncate(strings.Join(strings.Fields(fmt.Sprintf("Herald digest: %s, %s", title, summary)), " "), 200),
		Text:    text.String(), HTML: html.String(),
		Headers: map[string]string{"List-Unsubscribe": "<" + unsubscribe + ">", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
	}, nil
}

// maxEmailRows is how many annotators, and how many reviewers, a project shows in an email:
// the busiest. The digest_event and the preview have them all.
const maxEmailRows = 25

// projectView is a project as an email shows it.
type projectView struct {
	payloads.ProjectStats
	More string
}

func viewOf(ps payloads.ProjectStats) projectView {
	v := projectView{ProjectStats: ps}
	var more []string
	if n := len(ps.AnnotatorStats); n > maxEmailRows {
		v.AnnotatorStats = slices.Clone(ps.AnnotatorStats)
		slices.SortStableFunc(v.AnnotatorStats, func(a, b payloads.AnnotatorStats) int {
			return (b.SubmittedLabels + b.AcceptedLabels + b.RejectedLabels) - (a.SubmittedLabels + a.AcceptedLabels + a.RejectedLabels)
		})
		v.AnnotatorStats = v.AnnotatorStats[:maxEmailRows]
		more = append(more, fmt.Sprintf("%d more annotators", n-maxEmailRows))
	}
	if n := len(ps.ReviewerStats); n > maxEmailRows {
		v.ReviewerStats = slices.Clone(ps.ReviewerStats)
		slices.SortStableFunc(v.ReviewerStats, func(a, b payloads.ReviewerStats) int { return b.ReviewedLabels - a.ReviewedLabels })
		v.ReviewerStats = v.ReviewerStats[:maxEmailRows]
		more = append(more, fmt.Sprintf("%d more reviewers", n-maxEmailRows))
	}
	if len(more) > 0 {
		v.More = "…and " + strings.Join(more, " and ") + " (the busiest are shown; the digest preview and webhook have everyone)."
	}
	return v
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

var digestHTML = template.Must(template.New("digest").Funcs(template.FuncMap{"millis": millis, "rate": rate}).Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif; font-size: 14px; color: #222">
<h2 style="font-size: 18px; margin: 0 0 4px">{{.Title}}</h2>
<p style="margin: 0 0 16px; color: #666">Digest for {{.Period}}. {{.Summary}}.</p>
{{range .Projects}}<h3 style="font-size: 15px; margin: 16px 0 6px">Project <code>{{.ProjectHash}}</code></h3>
{{if or .AnnotatorStats .ReviewerStats}}{{if .AnnotatorStats}}<table style="border-collapse: collapse; margin-bottom: 8px">
<tr style="text-align: left; color: #666"><th style="padding: 2px 10px 2px 0">Annotator</th><th style="padding: 2px 10px">Submitted</th><th style="padding: 2px 10px">Accepted</th><th style="padding: 2px 10px">Rejected</th><th style="padding: 2px 10px">Avg add</th><th style="padding: 2px 10px">Avg edit</th><th style="padding: 2px 10px">Rejection rate</th></tr>
{{range .AnnotatorStats}}<tr><td style="padding: 2px 10px 2px 0">{{.UserEmail}}</td><td style="padding: 2px 10px">{{.SubmittedLabels}}</td><td style="padding: 2px 10px">{{.AcceptedLabels}}</td><td style="padding: 2px 10px">{{.RejectedLabels}}</td><td style="padding: 2px 10px">{{millis .AvgTimeForAdd}}</td><td style="padding: 2px 10px">{{millis .AvgTimeForEdit}}</td><td style="padding: 2px 10px">{{rate .RejectionRate}}</td></tr>
{{end}}</table>
{{end}}{{if .ReviewerStats}}<table style="border-collapse: collapse; margin-bottom: 8px">
<tr style="text-align: left; color: #666"><th style="padding: 2px 10px 2px 0">Reviewer</th><th style="padding: 2px 10px">Reviewed</th><th style="padding: 2px 10px">Approved</th><th style="padding: 2px 10px">Rejected</th><th style="padding: 2px 10px">Avg review</th></tr>
{{range .ReviewerStats}}<tr><td style="padding: 2px 10px 2px 0">{{.UserEmail}}</td><td style="padding: 2px 10px">{{.ReviewedLabels}}</td><td style="padding: 2px 10px">{{.ApprovedLabels}}</td><td style="padding: 2px 10px">{{.RejectedLabels}}</td><td style="padding: 2px 10px">{{millis .AvgTimeForReview}}</td></tr>
{{end}}</table>
{{end}}{{if .More}}<p style="margin: 0; color: #666">{{.More}}</p>
{{end}}{{else}}<p style="margin: 0; color: #666">No activity.</p>
{{end}}{{end}}<hr>
<p style="font-size: 12px; color: #666">You get this email because {{.Address}} is a recipient of {{.Title}}. <a href="{{.Unsubscribe}}">Stop these emails</a>.</p>
</body></html>
`))

// Slack allows 50 blocks in a message; a digest shows this many projects and counts the rest.
const maxSlackProjects = 40

// DigestSlackMessage is a digest as a Slack message: the notification's title, the period
// and totals, then one line per project with its busiest annotators.
func DigestSlackMessage(title string, p payloads.DigestPayload) slackgo.WebhookMessage {
	t := TotalsOf(p)
	summary := "No activity in this period."
	if !digest.Empty(p) {
		summary = fmt.Sprintf("*%d* labels submitted, *%d* reviewed, *%d* rejected.", t.Submitted, t.Reviewed, t.Rejected)
	}
	section := func(s string) slackgo.Block {
		return slackgo.NewSectionBlock(slackgo.NewTextBlockObject(slackgo.MarkdownType, notify.Truncate(s, 3000), false, false), nil, nil)
	}
	blocks := []slackgo.Block{
		slackgo.NewHeaderBlock(slackgo.NewTextBlockObject(slackgo.PlainTextType, notify.Truncate("Digest: "+title, 150), false, false)),
		section(fmt.Sprintf("%s\n%s", notify.EscapeMrkdwn(periodText(p.Period)), summary)),
	}
	for i, ps := range p.ProjectsStats {
		if i == maxSlackProjects {
			blocks = append(blocks, section(fmt.Sprintf("…and %d more projects.", len(p.ProjectsStats)-maxSlackProjects)))
			break
		}
		var b strings.Builder
		fmt.Fprintf(&b, "*Project* `%s`\n", notify.EscapeMrkdwn(ps.ProjectHash))
		if len(ps.AnnotatorStats)+len(ps.ReviewerStats) == 0 {
			b.WriteString("No activity.")
		}
		for j, a := range ps.AnnotatorStats {
			if j == 5 {
				fmt.Fprintf(&b, "…and %d more annotators\n", len(ps.AnnotatorStats)-5)
				break
			}
			fmt.Fprintf(&b, "• %s: %d submitted, %d rejected (%s)\n", notify.EscapeMrkdwn(a.UserEmail), a.SubmittedLabels, a.RejectedLabels, rate(a.RejectionRate))
		}
		for j, r := range ps.ReviewerStats {
			if j == 5 {
				fmt.Fprintf(&b, "…and %d more reviewers\n", len(ps.ReviewerStats)-5)
				break
			}
			fmt.Fprintf(&b, "• reviewer %s: %d reviewed, %d rejected\n", notify.EscapeMrkdwn(r.UserEmail), r.ReviewedLabels, r.RejectedLabels)
		}
		blocks = append(blocks, section(b.String()))
	}
	return slackgo.WebhookMessage{
		Text:   notify.Truncate(notify.EscapeMrkdwn(fmt.Sprintf("Digest: %s, %s", title, strings.ReplaceAll(summary, "*", ""))), 3000),
		Blocks: &slackgo.Blocks{BlockSet: blocks},
	}
}
