// Package local_test runs Herald's single-machine mode as a user does: the binary of
// ./infra/herald, configured through its command line, fed through its PutEvents endpoint by the
// AWS SDK, delivering to a receiver on loopback.
package local_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/samtemplate"
)

const (
	sampleProject       = "751a3a3e-46b6-4aad-b0b8-19b169f91266"
	sampleAnnotateStage = "a1b2c3d4-0000-4000-8000-00000000a001"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// TestMain removes the binary heraldBinary built, 30 MB a run, once every test is done.
func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		_ = os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// heraldBinary builds ./infra/herald once per test run.
func heraldBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := samtemplate.FindRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "herald-local-bin")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "herald")
		cmd := exec.Command("go", "build", "-o", binary, "./infra/herald")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build ./infra/herald: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// receiver records verified deliveries by the transition they report.
type receiver struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	byTime map[string]int       // event_created_timestamp -> deliveries
	first  map[string]time.Time // event_created_timestamp -> first arrival
	ids    map[string]string    // event_created_timestamp -> webhook-id
	bad    int
	// idChanged counts deliveries of an event under another webhook-id than its first.
	idChanged int
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{byTime: map[string]int{}, first: map[string]time.Time{}, ids: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.handle))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(req.Body)
	var doc struct {
		Created string `json:"event_created_timestamp"`
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	wh, err := standardwebhooks.NewWebhook(r.secret)
	if err != nil || wh.Verify(body, req.Header) != nil || json.Unmarshal(body, &doc) != nil {
		r.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := req.Header.Get("Webhook-Id")
	if _, seen := r.first[doc.Created]; !seen {
		r.first[doc.Created] = at
		r.ids[doc.Created] = id
	} else if r.ids[doc.Created] != id {
		r.idChanged++
	}
	r.byTime[doc.Created]++
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) delivered(created string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byTime[created] > 0
}

// process is one running herald binary.
type process struct {
	cmd       *exec.Cmd
	eventsURL string
	output    *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var endpointLine = regexp.MustCompile(`PutEvents endpoint\s+(http://127\.0\.0\.1:\d+)`)

// startHerald starts the binary on dataDir and waits for its banner.
func startHerald(t testing.TB, dataDir string, extra ...string) *process {
	t.Helper()
	args := append([]string{"-data-dir", dataDir, "-events-addr", "127.0.0.1:0", "-api-addr", "127.0.0.1:0", "-allow-loopback", "-retry-schedule", "1s,1s,2s,5s"}, extra...)
	cmd := exec.Command(heraldBinary(t), args...)
	root, _ := samtemplate.FindRoot()
	cmd.Dir = root
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, output: &lockedBuffer{}}
	cmd.Stderr = p.output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.output.Write([]byte(line + "\n"))
			if m := endpointLine.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case p.eventsURL = <-found:
		return p
	case <-time.After(30 * time.Second):
		t.Fatalf("herald did not start:\n%s", p.output.String())
		return nil
	}
}

func (p *process) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = p.cmd.Process.Wait()
}

// addWebhook configures the sample project's Annotate stage through the binary's own command.
func addWebhook(t testing.TB, dataDir, url string, flags ...string) string {
	t.Helper()
	cmd := exec.Command(heraldBinary(t), append([]string{"webhook-add", "-data-dir", dataDir, "-project", sampleProject,
		"-stage", sampleAnnotateStage, "-type", "annotate", "-url", url, "-allow-loopback"}, flags...)...)
	root, _ := samtemplate.FindRoot()
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("webhook-add: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(whsec_[A-Za-z0-9+/=]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("webhook-add printed no secret:\n%s", out)
	}
	return string(m[1])
}

func eventBridge(t testing.TB, endpoint string) *eventbridge.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
		config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.RetryMaxAttempts = 1 // a killed server must surface as a failed call, not be retried into the new one
	})
}

// transition returns the i-th distinct sample transition as a PutEvents entry, and the
// event_created_timestamp its webhook payload will carry.
func transition(t testing.TB, i int) (ebtypes.PutEventsRequestEntry, string) {
	t.Helper()
	entry, detail := sampleEntry(t, "router/task-submitted.json")
	sec, micro := 10+i/1_000_000, i%1_000_000
	created := fmt.Sprintf("2024-03-25T15:18:%02d.%06d+00:00", sec%60, micro)
	entry.Detail = aws.String(strings.Replace(detail, "2024-03-25T15:18:55.406529+00:00", created, 1))
	return entry, created
}

// sampleEntry is a router sample as a PutEvents entry on template.yaml's bus, and its detail.
func sampleEntry(t testing.TB, sample string) (ebtypes.PutEventsRequestEntry, string) {
	t.Helper()
	raw, err := samples.Read(sample)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ebtypes.PutEventsRequestEntry{
		Source: aws.String(ev.Source), DetailType: aws.String(ev.DetailType), Detail: aws.String(string(ev.Detail)),
		EventBusName: aws.String("herald"), // template.yaml's bus
	}, string(ev.Detail)
}
