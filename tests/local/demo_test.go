package local_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/samtemplate"
)

// awsCLIs are the official AWS CLIs a user may have: v1 (first on PATH on these machines) and
// Debian's v2 package.
func awsCLIs(t *testing.T) []string {
	t.Helper()
	var found []string
	if p, err := exec.LookPath("aws"); err == nil {
		found = append(found, p)
	}
	if _, err := os.Stat("/usr/bin/aws"); err == nil && (len(found) == 0 || found[0] != "/usr/bin/aws") {
		found = append(found, "/usr/bin/aws")
	}
	if len(found) == 0 {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal("no aws CLI installed: .ci/run installs Debian's awscli")
		}
		t.Skip("no aws CLI installed (apt-get install awscli)")
	}
	return found
}

// TestNewUserFlow is the README's promise: start Herald with -demo, publish the sample event
// with the AWS CLI, and see the signed webhook arrive at the local receiver.
func TestNewUserFlow(t *testing.T) {
	clis := awsCLIs(t)
	p := startHerald(t, t.TempDir(), "-demo", "-demo-receiver-addr", "127.0.0.1:0")
	root, _ := samtemplate.FindRoot()
	for i, cli := range clis {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, cli, "events", "put-events", "--endpoint-url", p.eventsURL, "--region", "us-east-1",
			"--entries", "file://events/samples/putevents/task-submitted.json")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "HOME="+t.TempDir(), "AWS_CONFIG_FILE=/dev/null")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), `"FailedEntryCount": 0`) {
			t.Fatalf("%s events put-events: %v\n%s", cli, err, out)
		}
		deadline := time.Now().Add(15 * time.Second)
		for strings.Count(p.output.String(), "webhook received (signature verified for wh_demo_annotate)") < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("no verified delivery printed after %s published:\n%s", cli, p.output.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !strings.Contains(p.output.String(), `"event_type":"task_submitted_event"`) {
		t.Fatalf("the printed delivery lacks the payload:\n%s", p.output.String())
	}
	// A newcomer opening the receiver's URL gets told what it is, and it is not printed as a
	// webhook received.
	m := demoReceiverLine.FindStringSubmatch(p.output.String())
	if m == nil {
		t.Fatalf("no demo receiver URL in the banner:\n%s", p.output.String())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(body), "POST") {
		t.Fatalf("GET %s: %d %s", m[1], resp.StatusCode, body)
	}
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(p.output.String(), "NOT VERIFIED") {
		t.Fatalf("a GET was printed as a webhook:\n%s", p.output.String())
	}
}

var demoReceiverLine = regexp.MustCompile(`demo receiver\s+(http://127\.0\.0\.1:\d+/\S*)`)

// TestDataDirectoryIsExclusive: a second Herald on the same data directory would hand out the
// first one's in-flight work again; it must refuse to start.
func TestDataDirectoryIsExclusive(t *testing.T) {
	dir := t.TempDir()
	startHerald(t, dir)
	cmd := exec.Command(heraldBinary(t), "-data-dir", dir, "-events-addr", "127.0.0.1:0", "-api-addr", "127.0.0.1:0")
	root, _ := samtemplate.FindRoot()
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another Herald process") {
		t.Fatalf("second runner: %v\n%s", err, out)
	}
}

// TestCorruptDatabaseIsAClearErrorAtStart: a damaged database stops Herald at start with a
// message that says so, rather than running on and losing events.
func TestCorruptDatabaseIsAClearErrorAtStart(t *testing.T) {
	dir := t.TempDir()
	garbage := []byte("SQLite format 3\x00" + strings.Repeat("\x7f", 8192))
	if err := os.WriteFile(dir+"/herald.db", garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(heraldBinary(t), "-data-dir", dir, "-events-addr", "127.0.0.1:0", "-api-addr", "127.0.0.1:0")
	root, _ := samtemplate.FindRoot()
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "database is corrupt") {
		t.Fatalf("corrupt database: %v\n%s", err, out)
	}
}
