package localbus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/localbus"
)

// debianAWSCLI is where Debian's awscli package (AWS CLI v2) installs.
const debianAWSCLI = "/usr/bin/aws"

// awsCLIs returns every distinct AWS CLI on the machine: the first `aws` on PATH (v1 from pip
// on the development image) and Debian's v2.
func awsCLIs() []string {
	var found []string
	seen := map[string]bool{}
	add := func(p string) {
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] {
			return
		}
		if fi, err := os.Stat(real); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return
		}
		seen[real] = true
		found = append(found, p)
	}
	if p, err := exec.LookPath("aws"); err == nil {
		add(p)
	}
	add(debianAWSCLI)
	return found
}

// cliEnv is the environment of an AWS CLI run: the test's own without any AWS_ setting (no
// profile, region or CA bundle from the machine), static credentials, and a HOME of its own so
// that no ~/.aws file is read.
func cliEnv(home string) []string {
	env := []string{
		"HOME=" + home,
		"AWS_ACCESS_KEY_ID=AKIDLOCALBUSTEST",
		"AWS_SECRET_ACCESS_KEY=localbus-test-secret",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_CLI_AUTO_PROMPT=off",
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

// cliVersion returns the CLI's name and version, e.g. "aws-cli/1.45.11".
func cliVersion(t *testing.T, cli string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "--version")
	cmd.Env = cliEnv(t.TempDir())
	out, err := cmd.CombinedOutput()
	fields := strings.Fields(string(out))
	if err != nil || len(fields) == 0 {
		t.Fatalf("%s --version: %v\n%s", cli, err, out)
	}
	return fields[0]
}

// signedRequests records the Authorization header of each request before handing it on.
type signedRequests struct {
	next http.Handler
	mu   sync.Mutex
	auth []string
}

func (s *signedRequests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	s.mu.Unlock()
	s.next.ServeHTTP(w, r)
}

// TestAWSCLIPutEvents publishes with the real AWS CLI, each version the machine has, and checks
// the CLI's own reading of the response and what reached the sink: one entry for the router
// (with its Time in RFC 3339, as people write it in an entries file), one without a DetailType,
// one matching no rule.
func TestAWSCLIPutEvents(t *testing.T) {
	t.Parallel()
	clis := awsCLIs()
	if len(clis) == 0 {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal("no AWS CLI found (neither `aws` on PATH nor " + debianAWSCLI + "); CI must install one: apt-get install -y awscli")
		}
		t.Skip("no AWS CLI on this machine (apt-get install -y awscli)")
	}
	for _, cli := range clis {
		version := cliVersion(t, cli)
		t.Run(strings.ReplaceAll(version, "/", " "), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			home := t.TempDir()
			env := cliEnv(home)
			t.Logf("%s is %s", cli, version)

			bus := newTestBus(t, localbus.Options{})
			rec := &signedRequests{next: bus}
			srv := httptest.NewServer(rec)
			defer srv.Close()

			ev := readSample(t, "router/task-submitted.json")
			other := readSample(t, "unmatched/other-source.json")
			entries, err := json.Marshal([]map[string]any{
				{"Source": ev.Source, "DetailType": ev.DetailType, "Detail": string(ev.Detail), "Time": ev.Time, "Resources": []string{"arn:aws:s3:::herald-samples"}},
				{"Source": ev.Source, "Detail": string(ev.Detail)},
				{"Source": other.Source, "DetailType": other.DetailType, "Detail": string(other.Detail)},
			})
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(home, "entries.json")
			if err := os.WriteFile(file, entries, 0o600); err != nil {
				t.Fatal(err)
			}

			cmd := exec.CommandContext(ctx, cli, "events", "put-events",
				"--endpoint-url", srv.URL, "--region", "us-east-1", "--output", "json",
				"--entries", "file://"+file)
			cmd.Env = env
			cmd.Dir = home
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("aws events put-events: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
			}

			res := decodeResult(t, stdout.String())
			if res.FailedEntryCount != 1 || len(res.Entries) != 3 {
				t.Fatalf("CLI output %s, want 3 entries, 1 failed", stdout.String())
			}
			if res.Entries[0].EventId == "" || res.Entries[2].EventId == "" {
				t.Errorf("CLI output %s: entries 0 and 2 have no EventId", stdout.String())
			}
			if e := res.Entries[1]; e.ErrorCode != "InvalidArgument" ||
				e.ErrorMessage != "Parameter DetailType is not valid. Reason: DetailType is a required argument." {
				t.Errorf("entry 1 = %+v, want InvalidArgument for the missing DetailType", e)
			}

			invs := bus.sink.Invocations()
			if len(invs) != 1 || invs[0].Function != "RouterFunction" {
				t.Fatalf("sink got %+v, want one invocation of RouterFunction", invs)
			}
			got := decodeEvent(t, invs[0].Event)
			if got.ID != res.Entries[0].EventId {
				t.Errorf("event id %s, CLI printed %s", got.ID, res.Entries[0].EventId)
			}
			if got.Time != ev.Time || got.Source != ev.Source || got.DetailType != ev.DetailType ||
				len(got.Resources) != 1 || got.Resources[0] != "arn:aws:s3:::herald-samples" {
				t.Errorf("event %s does not carry the entry (time %s)", invs[0].Event, ev.Time)
			}
			if !sameJSON(t, got.Detail, ev.Detail) {
				t.Errorf("detail %s, want %s", got.Detail, ev.Detail)
			}

			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.auth) != 1 || !strings.HasPrefix(rec.auth[0], "AWS4-HMAC-SHA256 Credential=AKIDLOCALBUSTEST/") {
				t.Errorf("requests' Authorization = %q, want one SigV4-signed request", rec.auth)
			}
		})
	}
}
