package render_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events/payloads"
	"github.com/heraldhq/herald/shared/digest/render"
	"github.com/heraldhq/herald/shared/mailbatch"
)

var links = mailbatch.Links{BaseURL: "https://api.herald.example", Key: []byte(strings.Repeat("k", 32))}

func samplePayload() payloads.DigestPayload {
	ms := func(v int64) *int64 { return &v }
	r := func(v float64) *float64 { return &v }
	end := time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)
	return payloads.DigestPayload{
		Period: payloads.NewPeriod(end.Add(-24*time.Hour), end),
		ProjectsStats: []payloads.ProjectStats{{
			ProjectHash: "p1",
			AnnotatorStats: []payloads.AnnotatorStats{{UserEmail: "<b>ann</b>@example.com", SubmittedLabels: 3, AcceptedLabels: 1, RejectedLabels: 2,
				AvgTimeForAdd: ms(61_400), RejectionRate: r(0.6667)}},
			ReviewerStats: []payloads.ReviewerStats{{UserEmail: "rev@example.com", ReviewedLabels: 3, ApprovedLabels: 1, RejectedLabels: 2, AvgTimeForReview: ms(900)}},
		}, {ProjectHash: "p-quiet", AnnotatorStats: []payloads.AnnotatorStats{}, ReviewerStats: []payloads.ReviewerStats{}}},
	}
}

func TestDigestEmail(t *testing.T) {
	e, err := render.DigestEmail("digest-1", "Herald <herald@example.com>", "Daily QA", "acme", "lead@example.com", "ntf_1", samplePayload(), links)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("invalid email: %v", err)
	}
	if e.Subject != "Herald digest: Daily QA, 3 labels submitted, 3 reviewed, 2 rejected" {
		t.Fatalf("subject %q", e.Subject)
	}
	for _, want := range []string{"Project p1", "1m1s", "66.7 %", "reviewer rev@example.com: 3 reviewed", "Project p-quiet\n  No activity.", "2026-06-01 09:00 – 2026-06-02 09:00 UTC"} {
		if !strings.Contains(e.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, e.Text)
		}
	}
	if strings.Contains(e.HTML, "<b>ann</b>") || !strings.Contains(e.HTML, "&lt;b&gt;ann&lt;/b&gt;") || !strings.Contains(e.HTML, "<table") {
		t.Fatalf("HTML part:\n%s", e.HTML)
	}
	u, err := url.Parse(strings.Trim(e.Headers["List-Unsubscribe"], "<>"))
	if err != nil {
		t.Fatal(err)
	}
	asked, err := links.Check(u.Query().Get("token"))
	if err != nil || asked.Address != "lead@example.com" || fmt.Sprint(asked.NotificationIDs) != "[ntf_1]" || e.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
		t.Fatalf("unsubscribe %+v, %v, headers %v", asked, err, e.Headers)
	}

	quiet := samplePayload()
	quiet.ProjectsStats = quiet.ProjectsStats[1:]
	e, err = render.DigestEmail("digest-2", "herald@example.com", "Daily QA", "acme", "lead@example.com", "ntf_1", quiet, links)
	if err != nil || e.Subject != "Herald digest: Daily QA, no activity" || !strings.Contains(e.HTML, "No activity") {
		t.Fatalf("empty digest: %q, %v", e.Subject, err)
	}
}

func TestDigestSlackMessage(t *testing.T) {
	p := samplePayload()
	p.ProjectsStats[0].AnnotatorStats[0].UserEmail = "<!channel>@example.com"
	msg := render.DigestSlackMessage("Daily QA", p)
	raw, _ := json.Marshal(msg)
	if strings.Contains(string(raw), "<!channel>") {
		t.Fatalf("a user's email mentions the channel: %s", raw)
	}
	if !strings.Contains(string(raw), "*3* labels submitted") || !strings.Contains(msg.Text, "3 labels submitted") || !strings.Contains(string(raw), "No activity.") {
		t.Fatalf("message %s", raw)
	}
	for i := range 100 {
		p.ProjectsStats = append(p.ProjectsStats, payloads.ProjectStats{ProjectHash: fmt.Sprintf("p%03d", i)})
	}
	if blocks := render.DigestSlackMessage("Daily QA", p).Blocks.BlockSet; len(blocks) > 50 {
		t.Fatalf("%d blocks; Slack takes 50", len(blocks))
	}
}

func TestDigestEmailShowsTheBusiestOfALargeProject(t *testing.T) {
	p := samplePayload()
	var many []payloads.AnnotatorStats
	for i := range 30 {
		many = append(many, payloads.AnnotatorStats{UserEmail: fmt.Sprintf("a%02d@example.com", i), SubmittedLabels: i})
	}
	p.ProjectsStats[0].AnnotatorStats = many
	e, err := render.DigestEmail("digest-3", "herald@example.com", "Daily QA", "acme", "lead@example.com", "ntf_1", p, links)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(e.Text, "  annotator ") != 25 || !strings.Contains(e.Text, "a29@example.com") || strings.Contains(e.Text, "a00@example.com") ||
		!strings.Contains(e.Text, "5 more annotators") || !strings.Contains(e.HTML, "5 more annotators") {
		t.Fatalf("text part:\n%s", e.Text)
	}
}
