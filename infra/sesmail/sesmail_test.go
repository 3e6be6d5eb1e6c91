package sesmail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/heraldhq/herald/shared/mail"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

// request is one SendEmail call as the fake SES endpoint received it.
type request struct {
	Method, Path, ContentType string
	Body                      []byte
}

// fakeSES records every request and answers each with reply(n) for the n-th call (from 0).
type fakeSES struct {
	mu       sync.Mutex
	requests []request
	reply    func(n int, w http.ResponseWriter)
}

func (f *fakeSES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), body})
	f.mu.Unlock()
	if f.reply != nil {
		f.reply(n, w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"MessageId":"msg-%d"}`, n)
}

func (f *fakeSES) recorded() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// newSender returns a Sender whose client talks to f; the SDK's retries are off so that each
// Send call makes exactly one request per chunk.
func newSender(t *testing.T, f *fakeSES, opts Options) *Sender {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := sesv2.New(sesv2.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(srv.URL),
		Retryer:      aws.NopRetryer{},
	})
	return New(client, opts)
}

// digest is the fixed email of the golden test: a display name and subject with non-ASCII
// characters, both bodies, and the one-click unsubscribe headers of RFC 8058.
func digest() mail.Email {
	return mail.Email{
		ID:      "digest-tenant-a-20261128T1205Z",
		From:    "Herald Café <noreply@herald.example>",
		To:      []string{"ana@example.com", "Bob Ōta <bob@example.com>"},
		Subject: "Résumé: 3 tasks completed 日本語 🎉",
		Text:    "3 tasks completed in Project Ω.\nhttps://app.example/p/1",
		HTML:    "<p>3 tasks completed in <b>Project Ω</b>.</p>",
		Headers: map[string]string{
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"List-Unsubscribe":      "<https://herald.example/unsubscribe?t=abc123>",
		},
	}
}

// TestSendEmailGolden pins what leaves Herald for SES: the exact SendEmail request body for
// one fixed email, byte for byte. Run `go test ./infra/sesmail -update` after an intended
// change and review the diff of testdata/.
func TestSendEmailGolden(t *testing.T) {
	f := &fakeSES{}
	s := newSender(t, f, Options{ConfigurationSet: "herald-notifications"})
	if err := s.Send(context.Background(), digest()); err != nil {
		t.Fatal(err)
	}
	reqs := f.recorded()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/v2/email/outbound-emails" || r.ContentType != "application/json" {
		t.Fatalf("request %s %s (%s), want POST /v2/email/outbound-emails (application/json)", r.Method, r.Path, r.ContentType)
	}
	golden := filepath.Join("testdata", "sendemail.golden.json")
	if *update {
		if err := os.WriteFile(golden, r.Body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(r.Body, want) {
		t.Fatalf("SendEmail body differs from %s (run with -update if intended)\n got: %s\nwant: %s", golden, r.Body, want)
	}
}

// sendEmailBody is the part of a SendEmail request body the tests below look at.
type sendEmailBody struct {
	FromEmailAddress string
	Destination      struct{ ToAddresses []string }
	Content          struct {
		Simple struct {
			Subject struct{ Data, Charset string }
			Body    struct {
				Text *struct{ Data, Charset string }
				Html *struct{ Data, Charset string }
			}
			Headers []struct{ Name, Value string }
		}
	}
	ConfigurationSetName *string
}

func decode(t *testing.T, r request) sendEmailBody {
	t.Helper()
	var b sendEmailBody
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
	return b
}

func TestSendSplitsRecipientsIntoMessagesOfFifty(t *testing.T) {
	t.Parallel()
	f := &fakeSES{}
	s := newSender(t, f, Options{})
	e := digest()
	e.To = addresses(120)
	if err := s.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	reqs := f.recorded()
	var got []string
	var sizes []int
	for _, r := range reqs {
		b := decode(t, r)
		sizes = append(sizes, len(b.Destination.ToAddresses))
		got = append(got, b.Destination.ToAddresses...)
		if b.ConfigurationSetName != nil {
			t.Fatalf("ConfigurationSetName %q sent without a configuration set", *b.ConfigurationSetName)
		}
	}
	if fmt.Sprint(sizes) != "[50 50 20]" || fmt.Sprint(got) != fmt.Sprint(e.To) {
		t.Fatalf("messages of %v recipients (%d in all), want [50 50 20] covering all 120 in order", sizes, len(got))
	}
}

func TestSendTextOnlyOmitsHTML(t *testing.T) {
	t.Parallel()
	f := &fakeSES{}
	s := newSender(t, f, Options{})
	e := digest()
	e.HTML, e.Headers = "", nil
	if err := s.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	b := decode(t, f.recorded()[0])
	if b.Content.Simple.Body.Html != nil || b.Content.Simple.Body.Text == nil || b.Content.Simple.Headers != nil {
		t.Fatalf("body %+v, want text only and no headers", b.Content.Simple)
	}
	if b.Content.Simple.Body.Text.Charset != "UTF-8" || b.Content.Simple.Subject.Charset != "UTF-8" {
		t.Fatal("UTF-8 charset missing")
	}
	if b.FromEmailAddress != "=?utf-8?q?Herald_Caf=C3=A9?= <noreply@herald.example>" {
		t.Fatalf("from %q, want the display name RFC 2047-encoded", b.FromEmailAddress)
	}
	if fmt.Sprint(b.Destination.ToAddresses) != "[ana@example.com =?utf-8?q?Bob_=C5=8Cta?= <bob@example.com>]" {
		t.Fatalf("to %q", b.Destination.ToAddresses)
	}
}

func TestInvalidEmailSendsNothing(t *testing.T) {
	t.Parallel()
	f := &fakeSES{}
	s := newSender(t, f, Options{})
	e := digest()
	e.Subject = "Hi\r\nBcc: everyone@example.com"
	if err := s.Send(context.Background(), e); !errors.Is(err, mail.ErrInvalid) {
		t.Fatalf("Send: %v, want mail.ErrInvalid", err)
	}
	if n := len(f.recorded()); n != 0 {
		t.Fatalf("%d requests for an invalid email", n)
	}
}

// sesError answers like SES: the error code in X-Amzn-ErrorType and the JSON body.
func sesError(status int, code string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message":"%s from the fake"}`, code)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status          int
		code            string
		throttled, rejd bool
	}{
		{429, "TooManyRequestsException", true, false},
		{429, "LimitExceededException", true, false},
		{400, "MessageRejected", false, true},
		{400, "MailFromDomainNotVerifiedException", false, true},
		{400, "BadRequestException", false, true},
		{400, "SendingPausedException", false, false},
		{400, "AccountSuspendedException", false, false},
		{404, "NotFoundException", false, false},
		{500, "InternalFailure", false, false},
	} {
		t.Run(tc.code, func(t *testing.T) {
			t.Parallel()
			f := &fakeSES{reply: func(_ int, w http.ResponseWriter) { sesError(tc.status, tc.code)(w) }}
			err := newSender(t, f, Options{}).Send(context.Background(), digest())
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if errors.Is(err, ErrThrottled) != tc.throttled || errors.Is(err, mail.ErrRejected) != tc.rejd {
				t.Fatalf("%v: throttled=%v rejected=%v, want %v %v", err, errors.Is(err, ErrThrottled), errors.Is(err, mail.ErrRejected), tc.throttled, tc.rejd)
			}
			var pe *mail.PartialError
			if errors.As(err, &pe) {
				t.Fatalf("%v: a PartialError when nothing was sent", err)
			}
		})
	}
}

func TestFailureAfterTheFirstMessageNamesWhoGotIt(t *testing.T) {
	t.Parallel()
	f := &fakeSES{reply: func(n int, w http.ResponseWriter) {
		if n == 1 {
			sesError(429, "TooManyRequestsException")(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"MessageId":"m"}`)
	}}
	e := digest()
	e.To = addresses(120)
	err := newSender(t, f, Options{}).Send(context.Background(), e)
	var pe *mail.PartialError
	if !errors.As(err, &pe) || !errors.Is(err, ErrThrottled) {
		t.Fatalf("Send: %v, want a throttled PartialError", err)
	}
	if fmt.Sprint(pe.Delivered) != fmt.Sprint(e.To[:50]) {
		t.Fatalf("delivered %d recipients, want the first 50", len(pe.Delivered))
	}
	if n := len(f.recorded()); n != 2 {
		t.Fatalf("%d requests, want 2 (stop at the first failure)", n)
	}
}

func addresses(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user%03d@example.com", i)
	}
	return out
}
