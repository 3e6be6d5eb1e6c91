package local_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/tests/apicall"
)

// runHerald runs one command of the binary from the checkout and returns its output and exit
// code.
func runHerald(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(heraldBinary(t), args...)
	root, _ := samtemplate.FindRoot()
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("run herald %v: %v", args, err)
	return "", 0
}

// A mistyped command must not start a server, and help must be help.
func TestUnknownCommandsFailAndHelpLists(t *testing.T) {
	t.Parallel()
	out, code := runHerald(t, "webhok-add")
	if code != 2 || !strings.Contains(out, `unknown command "webhok-add"`) {
		t.Fatalf("unknown command: exit %d\n%s", code, out)
	}
	out, code = runHerald(t, "-data-dir", t.TempDir(), "stray")
	if code != 2 || !strings.Contains(out, `unexpected argument "stray"`) {
		t.Fatalf("stray argument: exit %d\n%s", code, out)
	}
	for _, help := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		out, code = runHerald(t, help...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", help, code, out)
		}
		for _, want := range []string{"apikey-create", "webhook-add", "-demo", "-api-addr", "-pollers", "-demo-receiver-addr", "-allow-loopback"} {
			if !strings.Contains(out, want) {
				t.Fatalf("%v lists no %s:\n%s", help, want, out)
			}
		}
	}
	if out, code = runHerald(t, "webhook-add", "-h"); code != 0 || !strings.Contains(out, "-allow-loopback") || !strings.Contains(out, "-project") {
		t.Fatalf("webhook-add -h: exit %d\n%s", code, out)
	}
}

// The hint Herald prints for publishing the sample works when pasted into a shell that has no
// AWS configuration at all, and the demo receiver verifies what arrives.
func TestThePrintedHintWorksWhenPasted(t *testing.T) {
	clis := awsCLIs(t)
	p := startHerald(t, t.TempDir(), "-demo", "-demo-receiver-addr", "127.0.0.1:0")
	deadline := time.Now().Add(10 * time.Second)
	hint := regexp.MustCompile(`(?m)^\s*(AWS_ACCESS_KEY_ID=local .*put-events.*)$`)
	var m []string
	for m == nil && time.Now().Before(deadline) {
		m = hint.FindStringSubmatch(p.output.String())
		time.Sleep(20 * time.Millisecond)
	}
	if m == nil {
		t.Fatalf("no put-events hint printed:\n%s", p.output.String())
	}
	root, _ := samtemplate.FindRoot()
	cmd := exec.Command("sh", "-c", m[1])
	cmd.Dir = root
	home := t.TempDir()
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	_ = clis // the hint names `aws`, the first on PATH
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"FailedEntryCount": 0`) {
		t.Fatalf("pasted %q: %v\n%s", m[1], err, out)
	}
	waitFor(t, p, "webhook received (signature verified for wh_demo_annotate)")
}

// One default tenant: a webhook made with webhook-add and no -tenant is listed by the API for
// a key made with apikey-create and no -tenant, and the demo receiver verifies a webhook made
// through that API.
func TestCommandsShareOneDefaultTenant(t *testing.T) {
	dir := t.TempDir()
	out, code := runHerald(t, "webhook-add", "-data-dir", dir, "-project", sampleProject, "-stage", sampleAnnotateStage,
		"-type", "annotate", "-url", "http://127.0.0.1:9/cli", "-allow-loopback")
	if code != 0 {
		t.Fatalf("webhook-add: exit %d\n%s", code, out)
	}
	cliHook := regexp.MustCompile(`webhook (wh_\w+) created`).FindStringSubmatch(out)
	out, code = runHerald(t, "apikey-create", "-data-dir", dir)
	key := regexp.MustCompile(`hk_\S+`).FindString(out)
	if code != 0 || key == "" || cliHook == nil {
		t.Fatalf("apikey-create: exit %d\n%s", code, out)
	}
	p := startHerald(t, dir, "-demo", "-demo-receiver-addr", "127.0.0.1:0")
	waitFor(t, p, "Stop with Ctrl-C")
	api := regexp.MustCompile(`configuration API\s+(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(p.output.String())
	receiver := regexp.MustCompile(`demo receiver\s+(http://127\.0\.0\.1:\d+/webhooks)`).FindStringSubmatch(p.output.String())
	if api == nil || receiver == nil {
		t.Fatalf("banner lacks the API or the receiver:\n%s", p.output.String())
	}
	call := func(method, path string, body []byte) (int, []byte) {
		t.Helper()
		return apicall.Raw(t, api[1], key, method, path, body)
	}
	status, body := call("GET", "/v1/webhooks", nil)
	if status != 200 || !strings.Contains(string(body), cliHook[1]) || !strings.Contains(string(body), "wh_demo_annotate") {
		t.Fatalf("the API key's list: %d %s; want the CLI's %s and the demo's webhooks", status, body, cliHook[1])
	}
	// A webhook made through the API on the demo receiver, on the sample's Complete stage.
	status, body = call("POST", "/v1/webhooks", []byte(`{"project_hash":"`+sampleProject+`","stage_uuid":"a1b2c3d4-0000-4000-8000-00000000c001","stage_type":"complete","url":"`+receiver[1]+`/from-api"}`))
	if status != 201 {
		t.Fatalf("create through the API: %d %s", status, body)
	}
	var created struct{ ID string }
	_ = json.Unmarshal(body, &created)
	entry, _ := sampleEntry(t, "router/task-completed.json")
	if _, err := eventBridge(t, p.eventsURL).PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, "webhook received (signature verified for "+created.ID+")")
}

func waitFor(t *testing.T, p *process, line string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.output.String(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("%q never printed:\n%s", line, p.output.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
