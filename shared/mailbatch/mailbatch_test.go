package mailbatch_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/mailbatch"
)

var (
	links = mailbatch.Links{BaseURL: "https://api.herald.example.com/", Key: []byte(strings.Repeat("k", 32))}
	epoch = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	qa    = mailbatch.Claim{Recipient: mailbatch.Recipient{TenantID: "acme", Address: "qa@example.com"}, Window: 42}
)

func line(id, notification, title, project string, minute int) mailbatch.Line {
	return mailbatch.Line{
		ID: id, TenantID: "acme", Recipient: "qa@example.com", NotificationID: notification, NotificationTitle: title,
		ProjectHash: project, EventType: "task_submitted", Text: "annotator@example.com submitted task " + id + ".",
		OccurredAt: epoch.Add(time.Duration(minute) * time.Minute),
	}
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

func TestComposeGroupsByNotificationAndProject(t *testing.T) {
	lines := []mailbatch.Line{
		line("t1", "ntf_a", "Labels in", "p1", 0),
		line("t2", "ntf_b", "Reviews", "p1", 1),
		line("t3", "ntf_a", "Labels in", "p2", 2),
		line("t4", "ntf_a", "Labels in", "p1", 3),
	}
	e, err := mailbatch.Compose("Herald <herald@example.com>", qa, lines, links)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("composed email is invalid: %v", err)
	}
	if e.Subject != "Herald: 4 updates from 2 notifications" || len(e.To) != 1 || e.To[0] != "qa@example.com" {
		t.Fatalf("subject %q to %v", e.Subject, e.To)
	}
	// Groups in the order their first line came, each group's lines in time order.
	order := []string{"Labels in (project p1)", "task t1.", "task t4.", "Reviews (project p1)", "task t2.", "Labels in (project p2)", "task t3."}
	at := 0
	for _, s := range order {
		i := strings.Index(e.Text[at:], s)
		if i < 0 {
			t.Fatalf("text part lacks %q after offset %d:\n%s", s, at, e.Text)
		}
		at += i
	}
	if e.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
		t.Fatalf("headers %v", e.Headers)
	}
	all, err := links.Check(tokenOf(t, strings.Trim(e.Headers["List-Unsubscribe"], "<>")))
	if err != nil || fmt.Sprint(all.NotificationIDs) != "[ntf_a ntf_b]" || all.Address != "qa@example.com" || all.TenantID != "acme" {
		t.Fatalf("List-Unsubscribe asks %+v, %v", all, err)
	}
	if !strings.HasPrefix(e.Headers["List-Unsubscribe"], "<https://api.herald.example.com/v1/unsubscribe?token=") {
		t.Fatalf("List-Unsubscribe %q", e.Headers["List-Unsubscribe"])
	}
	again, _ := mailbatch.Compose("Herald <herald@example.com>", qa, lines, links)
	if again.ID != e.ID || e.ID != mailbatch.EmailID(qa) {
		t.Fatalf("email id %q then %q: want one id per recipient and window", e.ID, again.ID)
	}
}

func TestComposeOneNotificationNamesItInTheSubject(t *testing.T) {
	e, err := mailbatch.Compose("herald@example.com", qa, []mailbatch.Line{line("t1", "ntf_a", "Night\r\nshift  QA", "p1", 0)}, links)
	if err != nil {
		t.Fatal(err)
	}
	if e.Subject != "Herald: 1 update from Night shift QA" {
		t.Fatalf("subject %q", e.Subject)
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("a title with a line break made an invalid email: %v", err)
	}
}

func TestComposeEscapesWhatUsersWrote(t *testing.T) {
	l := line("t1", "ntf_a", `<script>alert(1)</script>`, `p1"><img src=x>`, 0)
	l.Text = `<b>annotator</b> & co`
	e, err := mailbatch.Compose("herald@example.com", qa, []mailbatch.Line{l}, links)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"<script>", "<img", "<b>"} {
		if strings.Contains(e.HTML, raw) {
			t.Fatalf("HTML part carries %q unescaped:\n%s", raw, e.HTML)
		}
	}
	if !strings.Contains(e.HTML, "&lt;script&gt;") || !strings.Contains(e.HTML, "&lt;b&gt;annotator&lt;/b&gt; &amp; co") {
		t.Fatalf("HTML part lost the escaped text:\n%s", e.HTML)
	}
}

func TestUnsubscribeLinks(t *testing.T) {
	link := links.URL("acme", "QA@Example.com", []string{"ntf_a"})
	token := tokenOf(t, link)
	u, err := links.Check(token)
	if err != nil || u.TenantID != "acme" || u.Address != "qa@example.com" || fmt.Sprint(u.NotificationIDs) != "[ntf_a]" {
		t.Fatalf("checked %+v, %v", u, err)
	}

	body, sig, _ := strings.Cut(token, ".")
	enc := base64.RawURLEncoding
	forged := enc.EncodeToString([]byte(`{"t":"acme","a":"ceo@example.com","n":["*"]}`)) + "." + sig
	otherKey := mailbatch.Links{BaseURL: links.BaseURL, Key: []byte(strings.Repeat("x", 32))}
	for name, bad := range map[string]string{
		"another address under the same signature": forged,
		"signed with another key":                  tokenOf(t, otherKey.URL("acme", "qa@example.com", []string{"ntf_a"})),
		"no signature":                             body,
		"a cut signature":                          body + "." + sig[:10],
		"empty":                                    "",
		"not base64":                               "!!.!!",
	} {
		if _, err := links.Check(bad); !errors.Is(err, mailbatch.ErrBadToken) {
			t.Errorf("%s: %v, want ErrBadToken", name, err)
		}
	}

	many := make([]string, 9)
	for i := range many {
		many[i] = fmt.Sprintf("ntf_%d", i)
	}
	if u, err := links.Check(tokenOf(t, links.URL("acme", "qa@example.com", many))); err != nil || fmt.Sprint(u.NotificationIDs) != "[*]" {
		t.Fatalf("a link for 9 notifications asks %+v, %v; want all of them", u, err)
	}
	if len(links.URL("acme", strings.Repeat("a", 64)+"@"+strings.Repeat("b", 180)+".com", many[:8])) > 995-2 {
		t.Fatal("a List-Unsubscribe link for 8 notifications is longer than a header line may be")
	}
}

func TestLinksRefuseAWeakKeyOrARelativeURL(t *testing.T) {
	for _, l := range []mailbatch.Links{
		{BaseURL: "https://api.example.com", Key: []byte("short")},
		{BaseURL: "/v1", Key: links.Key},
		{BaseURL: "ftp://api.example.com", Key: links.Key},
	} {
		if err := l.Validate(); err == nil {
			t.Errorf("%q with a %d-byte key accepted", l.BaseURL, len(l.Key))
		}
	}
}

// A stage webhook's alert line belongs to no notification: its email has nothing to
// unsubscribe from, and says why the address gets it; beside a notification's lines, only
// those carry the links.
func TestComposeAlertLinesOfNoNotification(t *testing.T) {
	alert := line("d1", "", "Stage webhooks", "", 0)
	alert.Text = "Webhook wh_1 to hooks.example.com was disabled."
	e, err := mailbatch.Compose("herald@example.com", qa, []mailbatch.Line{alert}, links)
	if err != nil {
		t.Fatal(err)
	}
	if e.Subject != "Herald: 1 update from Stage webhooks" || len(e.Headers) != 0 || strings.Contains(e.Text, "unsubscribe") ||
		strings.Contains(e.HTML, "unsubscribe") || !strings.Contains(e.Text, "alert address") || strings.Contains(e.Text, "(project") {
		t.Fatalf("alert-only email: %q %v\n%s\n%s", e.Subject, e.Headers, e.Text, e.HTML)
	}
	mixed, err := mailbatch.Compose("herald@example.com", qa, []mailbatch.Line{alert, line("t1", "ntf_a", "QA", "p1", 1)}, links)
	if err != nil {
		t.Fatal(err)
	}
	if mixed.Headers["List-Unsubscribe"] == "" || strings.Count(mixed.Text, "Stop these emails") != 1 || mixed.Subject != "Herald: 2 updates from QA and Stage webhooks" {
		t.Fatalf("mixed email: %q %v\n%s", mixed.Subject, mixed.Headers, mixed.Text)
	}
}
