package mailbatch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/heraldhq/herald/shared/mail"
)

// group is the lines of one notification and project, in time order.
type group struct {
	NotificationID    string
	NotificationTitle string
	ProjectHash       string
	Lines             []Line
	Unsubscribe       string
}

// Compose renders one recipient's email of one window: a subject with the counts, the lines
// grouped by notification and project in an HTML and a plain-text part, and the RFC 8058
// one-click unsubscribe headers, whose link removes the address from every notification the
// email covers; each group also links to leaving its notification alone.
func Compose(from string, c Claim, lines []Line, links Links) (mail.Email, error) {
	var groups []*group
	index := map[[2]string]*group{}
	var notifIDs []string
	titles := map[string]string{}
	for _, l := range lines {
		k := [2]string{l.NotificationID, l.ProjectHash}
		g, ok := index[k]
		if !ok {
			g = &group{NotificationID: l.NotificationID, NotificationTitle: l.NotificationTitle, ProjectHash: l.ProjectHash}
			// Lines of no notification (a stage webhook's alert address told it was
			// disabled) have nothing to unsubscribe from.
			if l.NotificationID != "" {
				g.Unsubscribe = links.URL(c.Recipient.TenantID, c.Recipient.Address, []string{l.NotificationID})
			}
			index[k] = g
			groups = append(groups, g)
		}
		if _, seen := titles[l.NotificationID]; !seen {
			titles[l.NotificationID] = l.NotificationTitle
			if l.NotificationID != "" {
				notifIDs = append(notifIDs, l.NotificationID)
			}
		}
		g.Lines = append(g.Lines, l)
	}
	// Where the updates come from: one title, or the notifications counted, and the lines of
	// no notification (stage webhooks' alerts) named beside them.
	source := fmt.Sprintf("%d notifications", len(notifIDs))
	if len(notifIDs) == 1 {
		source = oneLine(titles[notifIDs[0]])
	}
	if alerts, ok := titles[""]; ok {
		if len(notifIDs) == 0 {
			source = oneLine(alerts)
		} else {
			source += " and " + oneLine(alerts)
		}
	}
	subject := fmt.Sprintf("Herald: %d %s from %s", len(lines), plural(len(lines), "update", "updates"), source)
	all := ""
	if len(notifIDs) > 0 {
		all = links.URL(c.Recipient.TenantID, c.Recipient.Address, notifIDs)
	}

	var text strings.Builder
	for _, g := range groups {
		if g.ProjectHash == "" {
			// A line about the notification itself (one of its webhooks was disabled).
			fmt.Fprintf(&text, "%s\n", g.NotificationTitle)
		} else {
			fmt.Fprintf(&text, "%s (project %s)\n", g.NotificationTitle, g.ProjectHash)
		}
		for _, l := range g.Lines {
			fmt.Fprintf(&text, "  %s  %s\n", l.OccurredAt.UTC().Format("2006-01-02 15:04 UTC"), l.Text)
		}
		if g.Unsubscribe != "" {
			fmt.Fprintf(&text, "  Stop these emails from %q: %s\n", g.NotificationTitle, g.Unsubscribe)
		}
		text.WriteString("\n")
	}
	if all != "" {
		fmt.Fprintf(&text, "You get this email because %s is a recipient of these Herald notifications.\nStop all of them: %s\n", c.Recipient.Address, all)
	} else {
		fmt.Fprintf(&text, "You get this email because %s is the alert address of these Herald webhooks.\n", c.Recipient.Address)
	}

	var html bytes.Buffer
	if err := emailHTML.Execute(&html, map[string]any{"Groups": groups, "Address": c.Recipient.Address, "All": all}); err != nil {
		return mail.Email{}, fmt.Errorf("render email html: %w", err)
	}
	e := mail.Email{
		ID:      EmailID(c),
		From:    from,
		To:      []string{c.Recipient.Address},
		Subject: truncateRunes(subject, 200),
		Text:    text.String(),
		HTML:    html.String(),
	}
	if all != "" {
		e.Headers = map[string]string{
			"List-Unsubscribe":      "<" + all + ">",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		}
	}
	return e, nil
}

// EmailID names the email of one recipient and window, the same on every attempt to send it.
func EmailID(c Claim) string {
	sum := sha256.Sum256([]byte(c.Recipient.TenantID + "\x00" + c.Recipient.Address))
	return fmt.Sprintf("batch-%s-%d", hex.EncodeToString(sum[:12]), c.Window)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// oneLine keeps a title fit for a subject: no line breaks, which mail.Validate refuses.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

var emailHTML = template.Must(template.New("email").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
}).Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif; font-size: 14px; color: #222">
{{range .Groups}}<h2 style="font-size: 16px; margin: 16px 0 4px">{{.NotificationTitle}}</h2>
{{if .ProjectHash}}<p style="margin: 0 0 8px; color: #666">Project <code>{{.ProjectHash}}</code></p>{{end}}
<table style="border-collapse: collapse">
{{range .Lines}}<tr><td style="padding: 2px 12px 2px 0; white-space: nowrap; color: #666">{{when .OccurredAt}}</td><td style="padding: 2px 0">{{.Text}}</td></tr>
{{end}}</table>
{{if .Unsubscribe}}<p style="font-size: 12px"><a href="{{.Unsubscribe}}">Stop these emails from {{.NotificationTitle}}</a></p>{{end}}
{{end}}<hr>
{{if .All}}<p style="font-size: 12px; color: #666">You get this email because {{.Address}} is a recipient of these Herald notifications. <a href="{{.All}}">Stop all of them</a>.</p>{{else}}<p style="font-size: 12px; color: #666">You get this email because {{.Address}} is the alert address of these Herald webhooks.</p>{{end}}
</body></html>
`))
