package browser_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chromedp/chromedp"
)

const annotateStage = "a1b2c3d4-0000-4000-8000-00000000a001"

// hookReceiver records what reaches it: headers and bodies, answered 200.
type hookReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []struct {
		header http.Header
		body   []byte
	}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, struct {
			header http.Header
			body   []byte
		}{req.Header.Clone(), body})
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// waitFor waits for the nth request (1-based) and returns its header and body.
func (r *hookReceiver) waitFor(t *testing.T, n int) (http.Header, []byte) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		if len(r.got) >= n {
			g := r.got[n-1]
			r.mu.Unlock()
			return g.header, g.body
		}
		r.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the receiver got fewer than %d requests", n)
	return nil, nil
}

// Stage webhooks and their delivery log in the browser: a URL the API refuses is shown at its
// field; a webhook added on an Annotate stage with a rate limit and "Deliver in order" ticked
// shows both in the list, and its secret once; its test event reaches a loopback receiver
// signed with that secret (checked with the Standard Webhooks library) and shows in the log; a
// redelivery carries the same webhook-id; the filters and the recovery answer; rotate, disable
// and delete work. Another tenant sees none of it, not even by the log's address.
func TestStageWebhooksAndDeliveryLog(t *testing.T) {
	rig := startConsoleRig(t)
	hook := newHookReceiver(t)
	b := newBrowser(t)

	b.run("sign in", chromedp.Navigate(rig.signInLink(t, "acme", "alice")))
	b.waitText("#who", "alice · acme")
	b.run("open the stage webhooks", click(`a[data-tab="webhooks"]`))
	b.waitText("#stage-webhooks", "No stage webhooks yet")
	b.page("webhooks-empty")

	b.run("add a webhook the API refuses",
		keys("#wh-project", project), keys("#wh-stage", annotateStage), keys("#wh-url", "ftp://example.com/hook"), click("#add-webhook-submit"))
	b.waitText("#wh-url-error", "must be")
	b.page("webhooks-invalid-url")

	b.run("add a webhook with a rate limit the API refuses", setValue("#wh-url", ""), keys("#wh-url", hook.srv.URL+"/hooks"),
		keys("#wh-rate", "20000"), click("#add-webhook-submit"))
	b.waitText("#wh-rate-error", "must be from 1 to 10000")
	b.run("add a webhook", setValue("#wh-rate", ""), keys("#wh-rate", "50"), keys("#wh-alert", "ops@example.com"), click("#wh-ordered"),
		click("#add-webhook-submit"))
	secret := b.text("#secret-box .secret")
	b.waitText("#stage-webhooks", hook.srv.URL+"/hooks")
	b.waitText("#stage-webhooks", "at most 50 a second")
	b.waitText("#stage-webhooks", "in order")
	b.page("webhooks-added")
	if _, list := rig.call(t, "GET", "/v1/webhooks", nil); list["items"].([]any)[0].(map[string]any)["alert_email"] != "ops@example.com" ||
		list["items"].([]any)[0].(map[string]any)["ordered"] != true {
		t.Fatalf("the webhook the console added: %v", list)
	}
	if evaluate[bool](b, "the ordered box after adding", `document.getElementById("wh-ordered").checked`) {
		t.Fatal("the form kept the ordered box ticked for the next webhook")
	}

	b.run("send a test event", click(`button[aria-label^="Send a test event"]`))
	b.waitText("#notice", "on its way")
	header, body := hook.waitFor(t, 1)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(body, header); err != nil {
		t.Fatalf("the test event does not verify with the secret the console showed: %v", err)
	}
	if !strings.Contains(string(body), `"task_submitted_event"`) {
		t.Fatalf("test event %s", body)
	}

	b.run("open the delivery log", click(`#notice a`))
	b.waitText("#attempts", "Succeeded")
	b.page("delivery-log")
	b.run("redeliver", click(`button[aria-label^="Redeliver"]`))
	b.waitText("#notice", "queued again")
	again, _ := hook.waitFor(t, 2)
	if again.Get("Webhook-Id") != header.Get("Webhook-Id") {
		t.Fatalf("the redelivery's webhook-id %q, the first's %q", again.Get("Webhook-Id"), header.Get("Webhook-Id"))
	}
	deadline := time.Now().Add(10 * time.Second)
	for evaluate[int](b, "count attempts", `document.querySelectorAll("#attempts tbody tr").length`) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the redelivery's attempt is not in the log")
		}
		b.run("show the log again", click("#apply-filter"))
		time.Sleep(200 * time.Millisecond)
	}
	b.run("filter dead-lettered", setValue("#log-status", "dead_lettered"), click("#apply-filter"))
	b.waitText("#attempts", "No attempts match")
	b.run("recover", click("details:has(#recover-form) summary"),
		setValue("#recover-since", time.Now().Add(-time.Hour).Format("2006-01-02T15:04")), click("#recover"))
	b.waitText("#notice", "0 dead-lettered deliveries queued again")
	b.page("delivery-log-filtered")

	b.run("back to the webhooks", click(`a[href="#/webhooks"]`))
	b.run("rotate", click(`button[aria-label^="Rotate the secret"]`))
	if rotated := b.text("#secret-box .secret"); rotated == secret || !strings.HasPrefix(rotated, "whsec_") {
		t.Fatalf("rotated secret %q", rotated)
	}
	b.waitText("#secret-box", "keeps signing")
	b.run("disable", click(`button[aria-label^="Disable"]`))
	b.waitText("#stage-webhooks", "Disabled")
	b.page("webhooks-disabled")
	_, list := rig.call(t, "GET", "/v1/webhooks", nil)
	hooks := list["items"].([]any)
	if len(hooks) != 1 || hooks[0].(map[string]any)["enabled"] != false {
		t.Fatalf("after disabling the API lists %v", hooks)
	}
	id := hooks[0].(map[string]any)["id"].(string)

	// Another tenant: no webhooks, and the log's address answers not found.
	b.run("sign out", click("#sign-out"), visible("#api-key"))
	b.run("sign in as another tenant", chromedp.Navigate("about:blank"), chromedp.Navigate(rig.signInLink(t, "rival", "mallory")))
	b.waitText("#who", "mallory · rival")
	b.run("open the stage webhooks", click(`a[data-tab="webhooks"]`))
	b.waitText("#stage-webhooks", "No stage webhooks yet")
	b.run("open acme's log by its address", chromedp.Navigate(rig.h.APIURL+"/#/webhooks/"+id+"/log"))
	b.waitText("main", "no such resource")
	b.page("other-tenant-log")

	b.run("sign out", click("#sign-out"), visible("#api-key"))
	b.run("sign in again", chromedp.Navigate("about:blank"), chromedp.Navigate(rig.signInLink(t, "acme", "alice")))
	b.run("open the stage webhooks", click(`a[data-tab="webhooks"]`))
	b.run("delete", click(`button[aria-label^="Delete the webhook"]`), click("#confirm-delete"))
	b.waitText("#stage-webhooks", "No stage webhooks yet")
	if _, list := rig.call(t, "GET", "/v1/webhooks", nil); len(list["items"].([]any)) != 0 {
		t.Fatalf("after deleting the API lists %v", list)
	}
}
