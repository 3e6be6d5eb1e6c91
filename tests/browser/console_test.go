package browser_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/heraldhq/herald/infra/httpapi"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/localrun"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/tests/apicall"
	"github.com/heraldhq/herald/tests/slackstandin"
)

const (
	slackClientID     = "1234.5678"
	slackClientSecret = "s3cr3t-client-secret-value"
	slackRedirectURL  = "https://herald.example.com/slack/callback"
	project           = "751a3a3e-46b6-4aad-b0b8-19b169f91266"
)

// consoleRig is the embedded Herald with Slack's stand-in, and alice of tenant acme with an
// API key for what the test sets up behind the browser's back.
type consoleRig struct {
	h     *localrun.Herald
	slack *slackstandin.Server
	key   string
}

func startConsoleRig(t *testing.T) *consoleRig {
	t.Helper()
	return startConsoleRigAt(t, "127.0.0.1:0", slackRedirectURL)
}

// startConsoleRigAt serves the API and console at apiAddr, with Slack's consent page sending
// users back to slackRedirect.
func startConsoleRigAt(t *testing.T, apiAddr, slackRedirect string) *consoleRig {
	t.Helper()
	rig := &consoleRig{slack: slackstandin.New(t, slackstandin.Config{ClientID: slackClientID, ClientSecret: slackClientSecret, RedirectURL: slackRedirect})}
	tmpl, err := samtemplate.LoadRoot()
	if err != nil {
		t.Fatal(err)
	}
	rig.h, err = localrun.Start(context.Background(), localrun.Config{
		DataDir: t.TempDir(), Template: tmpl, EventsAddr: "127.0.0.1:0", APIAddr: apiAddr, AllowLoopback: true,
		Synchronous: "NORMAL", Pollers: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Slack: lambdafn.SlackConfig{
			ClientID: slackClientID, ClientSecret: slackClientSecret, RedirectURL: slackRedirect,
			StateKey:     "0123456789abcdef0123456789abcdef",
			AuthorizeURL: rig.slack.AuthorizeURL(), APIURL: rig.slack.APIURL(), WebhookURLPrefix: rig.slack.WebhookPrefix(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rig.h.Close(context.Background()) })
	plaintext, key, err := httpapi.NewAPIKey("acme", "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := rig.h.APIKeys.CreateAPIKey(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	rig.key = plaintext
	return rig
}

func (rig *consoleRig) call(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return apicall.JSON(t, rig.h.APIURL, rig.key, method, path, body)
}

// connectSlack connects #qa for alice as "Add Slack channel" does, through Slack's stand-in.
func (rig *consoleRig) connectSlack(t *testing.T) {
	t.Helper()
	rig.slack.Choose(slackstandin.Grant{TeamID: "T0ACME", TeamName: "Acme", ChannelID: "C0QA", ChannelName: "#qa", UserID: "U0ALICE"})
	_, start := rig.call(t, "GET", "/v1/slack/oauth/start", nil)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(start["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, _ := url.Parse(res.Header.Get("Location"))
	if status, ch := rig.call(t, "GET", "/v1/slack/oauth/callback?"+back.Query().Encode(), nil); status != http.StatusCreated {
		t.Fatalf("connect Slack: %d %v", status, ch)
	}
}

func (rig *consoleRig) signInLink(t *testing.T, tenant, user string) string {
	t.Helper()
	code, err := rig.h.APIKeys.CreateSignInCode(context.Background(), tenant, user, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return rig.h.APIURL + "/#sign-in=" + code
}

// A person's day on the Notifications tab: sign in with the link `herald -demo` prints; create
// the spec's notification through its five steps (Slack, emails, a webhook, events and a
// digest), with an invalid address refused at its field; see its secret once; search by title;
// edit it, where the API's refusal of a bad URL shows at the webhook's field; delete it after
// a confirmation. Another tenant signed in sees none of it. Every page passes axe-core.
func TestNotificationsTab(t *testing.T) {
	rig := startConsoleRig(t)
	rig.connectSlack(t)
	b := newBrowser(t)

	b.run("open the sign-in link", chromedp.Navigate(rig.signInLink(t, "acme", "alice")))
	b.waitText("#who", "alice · acme")
	b.waitText("#results", "No notifications yet")
	if address := evaluate[string](b, "read the address bar", "location.href"); strings.Contains(address, "sign-in=") {
		t.Fatalf("the one-time code stayed in the address bar: %s", address)
	}
	b.page("notifications-empty")

	// The keyboard alone reaches "+ Create notification" and the first step.
	for tries := 0; evaluate[string](b, "focused", `document.activeElement.id`) != "create"; tries++ {
		if tries > 20 {
			t.Fatal("Tab never reaches + Create notification")
		}
		b.run("tab", chromedp.KeyEvent(kb.Tab))
	}
	b.run("press Enter", chromedp.KeyEvent(kb.Enter), visible("#title"))
	b.run("back to the list", chromedp.Navigate(rig.h.APIURL+"/#/notifications"), visible("#create"))

	// 1. Enter details: Next without a title is refused at the field.
	b.run("start creating", click("#create"), visible("#title"))
	b.run("next without a title", click("#next"))
	b.waitText("#title-error", "is required")
	b.page("create-1-details")
	b.run("enter details",
		keys("#title", "QA alerts"),
		keys("#description", "Rejected labels and submitted tasks"),
		click("#next"))

	// 2. Add projects.
	b.run("add a project", visible("#project"), keys("#project", project+kb.Enter))
	b.waitText("ul.chips", project)
	b.page("create-2-projects")
	b.run("next", click("#next"))

	// 3. Add channels: the Slack grid, emails (an invalid one refused), a webhook.
	b.waitText("#slack-grid", "#qa")
	b.run("pick #qa", click(`#slack-grid input[type=checkbox]`))
	b.run("type an invalid address", keys("#email", "not-an-address"+kb.Enter))
	b.waitText("#email-error", "is not an email address")
	b.run("type two addresses",
		setValue("#email", ""),
		keys("#email", "lead@example.com"+kb.Enter),
		keys("#email", "qa@example.com"+kb.Enter))
	b.waitText("#email-error", "")
	b.run("add a webhook, in order, at most 25 a second", click("#add-webhook"), keys("#webhook-0-url", "http://127.0.0.1:9/hooks/qa"), click("#webhook-0-ordered"),
		keys("#webhook-0-rate", "25"))
	b.page("create-3-channels")
	b.run("next", click("#next"))

	// 4. Add triggers: two reactive events and a digest.
	b.waitText("#events", "task submitted")
	b.run("pick events",
		click(`input[value="task_submitted"]`),
		click(`input[value="label_rejected"]`),
		click("#add-digest"),
		setValue("#digest-0-times", ""),
		keys("#digest-0-times", "09:00, 17:30"),
		setValue("#digest-0-zone", "Europe/London"))
	b.run("preview the digest before creating", click("#preview-digest"))
	b.waitText("#preview", "Project "+project)
	b.page("create-4-triggers")
	b.run("next", click("#next"))

	// 5. Create: the webhook's secret, shown once.
	b.waitText("#step-title", "5. Create")
	b.page("create-5-review")
	b.run("create", click("#next"))
	secret := b.text(".secret")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret shown %q", secret)
	}
	b.page("created")
	_, list := rig.call(t, "GET", "/v1/notifications", nil)
	items := list["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("the API lists %d notifications", len(items))
	}
	n := items[0].(map[string]any)
	ch := n["channels"].(map[string]any)
	tr := n["triggers"].(map[string]any)
	if n["title"] != "QA alerts" || len(ch["emails"].([]any)) != 2 || len(ch["slack_channels"].([]any)) != 1 || len(ch["webhooks"].([]any)) != 1 ||
		len(tr["events"].([]any)) != 2 || len(tr["digests"].([]any)) != 1 {
		t.Fatalf("created %v", n)
	}
	if d := tr["digests"].([]any)[0].(map[string]any); d["time_zone"] != "Europe/London" || len(d["times_of_day"].([]any)) != 2 {
		t.Fatalf("digest %v", d)
	}
	hook := ch["webhooks"].([]any)[0].(map[string]any)
	if hook["ordered"] != true || hook["rate_limit_per_second"] != float64(25) {
		t.Fatalf("webhook %v: want ordered, as ticked, and 25 a second, as typed", hook)
	}
	hookID := hook["id"]

	// Search by title, as you type.
	if status, _ := rig.call(t, "POST", "/v1/notifications", map[string]any{
		"title": "Nightly digest", "projects": []string{project}, "channels": map[string]any{"emails": []string{"lead@example.com"}},
		"triggers": map[string]any{"digests": []map[string]any{{"times_of_day": []string{"06:00"}, "time_zone": "UTC"}}},
	}); status != http.StatusCreated {
		t.Fatalf("create a second notification: %d", status)
	}
	b.run("back to the list", click("#back-to-list"))
	b.waitText("#results", "Nightly digest")
	b.waitRows(2)
	b.page("notifications-list")
	// On a phone-sized window the list reflows: nothing wider than the screen.
	b.run("a phone-sized window", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if wide := evaluate[bool](b, "measure", `document.documentElement.scrollWidth > window.innerWidth + 1`); wide {
		b.shot("failed-phone")
		t.Fatal("the list is wider than a phone's screen")
	}
	b.page("notifications-phone")
	b.run("back to a desktop window", chromedp.ResetViewport())
	b.run("search", keys("#search", "alerts"))
	b.waitRows(1)
	b.waitText("#results tbody", "QA alerts")
	b.page("notifications-search")

	// Edit with the gear: the API refuses a bad URL, shown at the webhook's field.
	b.run("edit", click(`a[aria-label="Edit QA alerts"]`), visible("#title"))
	b.run("change the title", setValue("#title", ""), keys("#title", "QA alerts (edited)"), click("#next"))
	b.run("keep the projects", visible("#project"), click("#next"))
	b.run("break the webhook URL", visible("#webhook-0-url"), setValue("#webhook-0-url", ""), keys("#webhook-0-url", "ftp://example.com/hook"), click("#next"))
	b.run("triggers", visible("#events"), click("#next"))
	b.run("save", visible("#step-title"), click("#next"))
	b.waitText("#step-title", "Add channels")
	b.waitText("#webhook-0-error", "must be")
	b.page("edit-invalid-url")
	b.run("mend the URL", setValue("#webhook-0-url", ""), keys("#webhook-0-url", "http://127.0.0.1:9/hooks/qa2"), click("#next"))
	// The digest preview, before the first digest goes out.
	b.run("preview the digest", visible("#events"), click("#preview-digest"))
	b.waitText("#preview", "0 annotators, 0 reviewers")
	b.waitText("#preview", "From ")
	b.page("edit-4-digest-preview")
	b.run("triggers", click("#next"))
	b.run("save", visible("#step-title"), click("#next"))
	b.waitText("h1", "Saved")
	_, list = rig.call(t, "GET", "/v1/notifications?title=edited", nil)
	if items := list["items"].([]any); len(items) != 1 {
		t.Fatalf("after the edit the API lists %v", list)
	} else if hooks := items[0].(map[string]any)["channels"].(map[string]any)["webhooks"].([]any); len(hooks) != 1 ||
		hooks[0].(map[string]any)["id"] != hookID || hooks[0].(map[string]any)["url"] != "http://127.0.0.1:9/hooks/qa2" {
		t.Fatalf("after the edit the webhook is %v, want %v changed in place", hooks, hookID)
	}

	// Herald disables the webhook for failing: editing the notification says so beside it.
	ref := delivery.EndpointRef{TenantID: "acme", WebhookID: fmt.Sprint(hookID)}
	failedAt := time.Now().Add(-6 * 24 * time.Hour)
	if _, err := rig.h.Store.AddFailure(context.Background(), ref, failedAt); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := rig.h.Store.DisableFailing(context.Background(), ref, failedAt, delivery.FailureStreak{Since: failedAt, Failures: 9}.Reason()); err != nil || !ok {
		t.Fatalf("disable: %v %v", ok, err)
	}
	b.run("back to the list", click("#back-to-list"))
	b.run("edit", click(`a[aria-label="Edit QA alerts (edited)"]`), visible("#title"), click("#next"))
	b.run("keep the projects", visible("#project"), click("#next"))
	b.waitText("#webhook-0-disabled", "every attempt failed since")
	b.page("edit-disabled-webhook")
	b.run("back to the list", chromedp.Navigate(rig.h.APIURL+"/#/notifications"), visible("#create"))

	// Delete with the red bin, after a confirmation.
	b.run("delete", chromedp.Click(`button[aria-label="Delete QA alerts (edited)"]`), visible("#confirm-delete"))
	b.page("delete-confirm")
	b.run("confirm", click("#confirm-delete"))
	b.waitRows(1)
	b.waitText("#results", "Nightly digest")
	if _, list = rig.call(t, "GET", "/v1/notifications?title=QA", nil); len(list["items"].([]any)) != 0 {
		t.Fatalf("the deleted notification is still listed: %v", list)
	}

	// Another tenant sees none of it; a used link is refused with what to do.
	used := rig.signInLink(t, "rival", "mallory")
	b.run("sign out", click("#sign-out"), visible("#api-key"))
	b.run("open another tenant's link", chromedp.Navigate("about:blank"), chromedp.Navigate(used))
	b.waitText("#who", "mallory · rival")
	b.waitText("#results", "No notifications yet")
	b.page("other-tenant")
	b.run("sign out", click("#sign-out"), visible("#api-key"))
	b.run("open the used link", chromedp.Navigate("about:blank"), chromedp.Navigate(used))
	b.waitText("main", "Sign-in link used or expired")
	b.waitText("main", "go run ./infra/herald signin-link")
	b.page("sign-in-used-link")
}

// "Add Slack channel" in the create flow: Slack's consent page opens in a new tab, which Slack
// sends back to the console, where the channel is connected as the signed-in user; the grid
// of the first tab shows it after a click on the refresh icon. A return with a state Herald
// did not make for this user connects nothing and says why.
func TestAddSlackChannel(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rig := startConsoleRigAt(t, addr, "http://"+addr+"/")
	rig.slack.Choose(slackstandin.Grant{TeamID: "T0ACME", TeamName: "Acme", ChannelID: "C0OPS", ChannelName: "#ops", UserID: "U0ALICE"})
	b := newBrowser(t)
	b.run("sign in", chromedp.Navigate(rig.signInLink(t, "acme", "alice")))
	b.waitText("#who", "alice · acme")
	b.run("start creating", click("#create"), keys("#title", "Ops"), click("#next"))
	b.run("add a project", keys("#project", project+kb.Enter), click("#next"))
	b.waitText("#slack-grid", "No Slack channels yet")
	b.run("add a Slack channel", click("#add-slack"))
	b.waitText("#slack-note", "refresh the grid")
	started := time.Now()
	for tries := 0; ; tries++ {
		_, chans := rig.call(t, "GET", "/v1/slack/channels", nil)
		if items, _ := chans["items"].([]any); len(items) == 1 {
			t.Logf("the other tab connected the channel in %s", time.Since(started))
			break
		}
		if tries > 300 {
			t.Fatal("the tab Slack returned to did not connect the channel")
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.run("refresh the grid", click(`button[aria-label="Refresh Slack channels"]`))
	b.waitText("#slack-grid", "#ops")
	b.page("slack-added")
	b.run("open the channel's delivery log", click(`a[aria-label="Delivery log of #ops"]`))
	b.waitText("main", "#ops (Acme)")
	b.waitText("#attempts", "No attempts match")
	b.page("slack-delivery-log")

	b.run("come back from Slack with a state made for nobody", chromedp.Navigate(rig.h.APIURL+"/?code=stolen&state=forged"))
	b.waitText("main", "Slack was not connected")
	b.waitText("main", "state")
	b.page("slack-forged-state")
}
