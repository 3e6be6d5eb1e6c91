// Package standin connects integration tests to the local AWS stand-ins that
// `make test` starts (tests/standins/standins.sh): DynamoDB Local, an SQS
// stand-in, an SES v2 stand-in, and the AWS Lambda Runtime Interface Emulator.
//
// The stand-ins publish their addresses through environment variables:
//
//	HERALD_TEST_DYNAMODB_ENDPOINT  e.g. http://127.0.0.1:18000
//	HERALD_TEST_SQS_ENDPOINT       e.g. http://127.0.0.1:19324
//	HERALD_TEST_SES_ENDPOINT       e.g. http://127.0.0.1:18005
//	HERALD_TEST_RIE                absolute path of the aws-lambda-rie binary
//
// When a variable is missing, the test is skipped with a hint to run
// `make test`; under CI=true it fails instead, so that CI can never pass by
// silently skipping its integration tests.
//
// The stand-ins are shared by every test package of a `go test ./...` run
// (packages run in parallel): give each test its own tables and queues with
// UniqueName, and find your own mail in SentEmails by a unique recipient or
// subject rather than clearing the store.
package standin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Region is the region of every stand-in client.
const Region = "us-east-1"

// profile is the (empty) shared-config profile AWSConfig selects.
const profile = "herald-standin"

// EnvVar returns the name of the environment variable holding the endpoint of
// service ("dynamodb", "sqs", "ses"): HERALD_TEST_<SERVICE>_ENDPOINT.
func EnvVar(service string) string {
	return "HERALD_TEST_" + strings.ToUpper(service) + "_ENDPOINT"
}

// RIEEnvVar is the environment variable holding the path of aws-lambda-rie.
const RIEEnvVar = "HERALD_TEST_RIE"

// InCI reports whether the tests run under CI (CI=true), where a missing
// stand-in is a failure rather than a skip.
func InCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

func required(t testing.TB, name, what string) string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v != "" {
		return v
	}
	if InCI() {
		t.Fatalf("%s is not set but CI=true: the %s stand-in is missing. "+
			"Integration tests must run through `make test`, which starts the stand-ins "+
			"(bash tests/standins/with-standins.sh go test ./...)", name, what)
	}
	t.Skipf("%s is not set: skipping this integration test that needs the %s stand-in; "+
		"run `make test` to start the local AWS stand-ins and run it", name, what)
	return ""
}

// Endpoint returns the stand-in's base URL from HERALD_TEST_<SERVICE>_ENDPOINT
// (service is "dynamodb", "sqs" or "ses"). When it is unset: under CI=true it
// calls t.Fatalf (an integration test must fail loudly when its backend is
// missing); otherwise it calls t.Skipf with a message naming `make test`.
func Endpoint(t testing.TB, service string) string {
	t.Helper()
	return strings.TrimRight(required(t, EnvVar(service), service), "/")
}

// RIE returns the path of the aws-lambda-rie binary from HERALD_TEST_RIE, with
// the same fail/skip rule as Endpoint.
func RIE(t testing.TB) string {
	t.Helper()
	p := required(t, RIEEnvVar, "aws-lambda-rie")
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		t.Fatalf("%s=%s does not name a file (run `make test`, which installs it): %v", RIEEnvVar, p, err)
	}
	return p
}

// StartRIE runs bootstrap (a Lambda handler binary, e.g. a Go handler built with
// CGO_ENABLED=0 -tags lambda.norpc) under the AWS Lambda Runtime Interface
// Emulator, on free 127.0.0.1 ports, and returns the URL to POST invocation
// payloads to. The emulator inherits the test's environment plus env
// ("KEY=value" entries); its output goes to the test log. It is stopped when the
// test ends. Same fail/skip rule as RIE.
//
// Note: a handler error comes back as HTTP 200 without X-Amz-Function-Error;
// read the body ({"errorMessage":...,"errorType":...}).
func StartRIE(t testing.TB, bootstrap string, env ...string) string {
	t.Helper()
	rie := RIE(t)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		apiAddr, emuAddr := freeAddr(t), freeAddr(t)
		cmd := exec.Command(rie,
			"--runtime-api-address", apiAddr,
			"--runtime-interface-emulator-address", emuAddr,
			bootstrap)
		cmd.Env = append(os.Environ(), env...)
		w := &testLogWriter{t: t}
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			t.Fatalf("standin: starting %s: %v", rie, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
		}
		if err := waitListening(emuAddr, exited, 10*time.Second); err != nil {
			stop()
			lastErr = err
			continue // most likely a port race: try other ports
		}
		t.Cleanup(func() { w.close(); stop() })
		return "http://" + emuAddr + "/2015-03-31/functions/function/invocations"
	}
	t.Fatalf("standin: aws-lambda-rie did not start: %v", lastErr)
	return ""
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("standin: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(addr string, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("exited before listening on %s: %v", addr, err)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %s", addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testLogWriter sends a child process's output to t.Log, and drops it once the
// test is over (t.Log panics after the test completes).
type testLogWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// AWSConfig returns an aws.Config for region us-east-1 with static dummy
// credentials and the SDK's standard retryer (default attempts). Shared
// config/credentials files, AWS_PROFILE, AWS_REGION, AWS_MAX_ATTEMPTS, FIPS and
// dual-stack settings and AWS_ENDPOINT_URL of the environment are ignored, so
// a developer's real AWS setup cannot leak into (or break) the tests.
// Set BaseEndpoint per client (DynamoDB, SQS and SESv2 below do).
func AWSConfig(t testing.TB) aws.Config {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The SDK insists that a profile named by AWS_PROFILE exists in the shared config
	// files, even when it is given no files. So give it one file of our own with one
	// empty profile and select that profile: the developer's ~/.aws and AWS_PROFILE
	// are then never read.
	profileFile := filepath.Join(t.TempDir(), "aws-config")
	if err := os.WriteFile(profileFile, []byte("[profile "+profile+"]\n"), 0o600); err != nil {
		t.Fatalf("standin: writing an empty AWS config file: %v", err)
	}
	// No config.WithHTTPClient: AWS_CA_BUNDLE is set on some machines, and the SDK then
	// refuses a plain *http.Client ("unable to add custom RootCAs HTTPClient").
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithSharedConfigFiles([]string{profileFile}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithSharedConfigProfile(profile),
		config.WithRetryMode(aws.RetryModeStandard),
		config.WithRetryMaxAttempts(retry.DefaultMaxAttempts),
		config.WithUseFIPSEndpoint(aws.FIPSEndpointStateDisabled),
		config.WithUseDualStackEndpoint(aws.DualStackEndpointStateDisabled),
		config.WithAccountIDEndpointMode(aws.AccountIDEndpointModeDisabled),
	)
	if err != nil {
		t.Fatalf("standin: loading AWS config: %v", err)
	}
	cfg.BaseEndpoint = nil // ignore AWS_ENDPOINT_URL; each client sets its own
	return cfg
}

// DynamoDB returns a client for the DynamoDB stand-in (BaseEndpoint =
// Endpoint(t, "dynamodb")). optFns run after the endpoint is set.
func DynamoDB(t testing.TB, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	t.Helper()
	ep := Endpoint(t, "dynamodb")
	return dynamodb.NewFromConfig(AWSConfig(t), append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(ep)
	}}, optFns...)...)
}

// SQS returns a client for the SQS stand-in (BaseEndpoint = Endpoint(t, "sqs")).
// optFns run after the endpoint is set.
func SQS(t testing.TB, optFns ...func(*sqs.Options)) *sqs.Client {
	t.Helper()
	ep := Endpoint(t, "sqs")
	return sqs.NewFromConfig(AWSConfig(t), append([]func(*sqs.Options){func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(ep)
	}}, optFns...)...)
}

// SESv2 returns a client for the SES v2 stand-in (BaseEndpoint = Endpoint(t,
// "ses")). optFns run after the endpoint is set.
func SESv2(t testing.TB, optFns ...func(*sesv2.Options)) *sesv2.Client {
	t.Helper()
	ep := Endpoint(t, "ses")
	return sesv2.NewFromConfig(AWSConfig(t), append([]func(*sesv2.Options){func(o *sesv2.Options) {
		o.BaseEndpoint = aws.String(ep)
	}}, optFns...)...)
}

// maxUniqueName keeps names valid as SQS queue names (at most 80 characters)
// even after a caller appends ".fifo".
const maxUniqueName = 75

// UniqueName returns prefix + "-" + a random suffix, for per-test tables and
// queues. The result is at most 75 characters of [A-Za-z0-9_-] (other
// characters of prefix become '-'), so it is a valid DynamoDB table name and a
// valid SQS queue name, also with ".fifo" appended.
func UniqueName(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("standin: crypto/rand: %v", err))
	}
	suffix := hex.EncodeToString(b[:])
	clean := []byte(prefix)
	for i, c := range clean {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			clean[i] = '-'
		}
	}
	if room := maxUniqueName - len(suffix) - 1; len(clean) > room {
		clean = clean[:room]
	}
	if len(clean) == 0 {
		return "t-" + suffix
	}
	return string(clean) + "-" + suffix
}

// SentEmail is one message recorded by the SES v2 stand-in (aws-ses-v2-local),
// as listed by its GET /store endpoint.
type SentEmail struct {
	MessageID   string   `json:"messageId"`
	From        string   `json:"from"`
	ReplyTo     []string `json:"replyTo"`
	Destination struct {
		To  []string `json:"to"`
		Cc  []string `json:"cc"`
		Bcc []string `json:"bcc"`
	} `json:"destination"`
	Subject string `json:"subject"`
	Body    struct {
		HTML string `json:"html"`
		Text string `json:"text"`
	} `json:"body"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
	Attachments []struct {
		Content     string `json:"content"` // base64
		ContentType string `json:"contentType"`
		Filename    string `json:"filename"`
		Size        int    `json:"size"`
	} `json:"attachments"`
	At int64 `json:"at"` // Unix seconds
}

// SentEmails returns every message the SES v2 stand-in has accepted since it
// started, oldest first. The store is shared by all test packages: filter by a
// recipient or subject made with UniqueName.
func SentEmails(t testing.TB) []SentEmail {
	t.Helper()
	ep := Endpoint(t, "ses")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep+"/store", nil)
	if err != nil {
		t.Fatalf("standin: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("standin: reading the SES stand-in's store: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("standin: reading the SES stand-in's store: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("standin: GET %s/store: %s: %s", ep, resp.Status, body)
	}
	var store struct {
		Emails []SentEmail `json:"emails"`
	}
	if err := json.Unmarshal(body, &store); err != nil {
		t.Fatalf("standin: decoding the SES stand-in's store: %v", err)
	}
	return store.Emails
}
