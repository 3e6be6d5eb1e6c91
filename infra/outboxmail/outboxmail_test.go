package outboxmail_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/heraldhq/herald/infra/outboxmail"
	"github.com/heraldhq/herald/shared/mail"
)

var ctx = context.Background()

func email(id string, recipients int) mail.Email {
	e := mail.Email{
		ID: id, From: "Herald <noreply@herald.example>", Subject: "Digest " + id,
		Text: "Three tasks completed.", HTML: "<p>Three tasks completed.</p>",
		Headers: map[string]string{"List-Unsubscribe": "<https://herald.example/u?t=1>"},
	}
	for i := range recipients {
		e.To = append(e.To, fmt.Sprintf("user%03d@example.com", i))
	}
	return e
}

func files(t *testing.T, dir, folder, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, folder, pattern))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func smtpTo(r *relay) *outboxmail.SMTPConfig {
	return &outboxmail.SMTPConfig{Host: "127.0.0.1", Port: r.addr.Port, TLS: outboxmail.TLSNone}
}

func newSender(t *testing.T, dir string, cfg *outboxmail.SMTPConfig) *outboxmail.Sender {
	t.Helper()
	s, err := outboxmail.New(dir, outboxmail.Options{SMTP: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSendWritesOneWholeMessageFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newSender(t, dir, nil)
	e := email("digest-a.1", 2)
	e.Subject = "Résumé 日本語 🎉"
	if err := s.Send(ctx, e); err != nil {
		t.Fatal(err)
	}
	got := files(t, dir, "outbox", "*")
	if len(got) != 1 || !strings.HasSuffix(got[0], "-digest-a.1.eml") {
		t.Fatalf("outbox holds %v, want one <time>-digest-a.1.eml", got)
	}
	if tmp := files(t, dir, "tmp", "*"); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	fi, err := os.Stat(got[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v (%v), want 0600: messages hold people's addresses", fi.Mode(), err)
	}
	raw, _ := os.ReadFile(got[0])
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	mediaType, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	for _, c := range []struct{ what, got, want string }{
		{"Message-ID", h.Get("Message-ID"), "<digest-a.1@herald.example>"},
		{"Subject", subject, e.Subject},
		{"raw Subject is 7-bit", fmt.Sprint(isASCII(h.Get("Subject"))), "true"},
		{"Content-Type", mediaType, "multipart/alternative"},
		{"MIME-Version", h.Get("MIME-Version"), "1.0"},
		{"List-Unsubscribe", h.Get("List-Unsubscribe"), e.Headers["List-Unsubscribe"]},
		{"no go-mail User-Agent", h.Get("User-Agent") + h.Get("X-Mailer"), ""},
		{"CRLF line ends", fmt.Sprint(bytes.Count(raw, []byte("\n")) == bytes.Count(raw, []byte("\r\n"))), "true"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}
	if d, err := h.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date %v (%v)", d, err)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func TestSameIDIsWrittenAndSentOnce(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	dir := t.TempDir()
	s := newSender(t, dir, smtpTo(r))
	e := email("once", 1)
	var wg sync.WaitGroup
	for range 8 { // concurrent duplicates, as two overlapping five-minute runs might produce
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Send(ctx, e); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.Send(ctx, e); err != nil {
		t.Fatal(err)
	}
	// And after a restart, from what is on disk.
	if err := newSender(t, dir, smtpTo(r)).Send(ctx, e); err != nil {
		t.Fatal(err)
	}
	if n := len(r.messages()); n != 1 {
		t.Fatalf("%d SMTP sends, want 1", n)
	}
	if sent, out := files(t, dir, "sent", "*.eml"), files(t, dir, "outbox", "*"); len(sent) != 1 || len(out) != 0 {
		t.Fatalf("sent %v, outbox %v: want one file, in sent", sent, out)
	}
}

// TestEnvelopeIsRFC5321 checks the commands on the wire: go-mail's client sends the path it
// is given as is, and strict relays refuse "MAIL FROM:addr" without angle brackets.
func TestEnvelopeIsRFC5321(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	if err := newSender(t, t.TempDir(), smtpTo(r)).Send(ctx, email("wire", 2)); err != nil {
		t.Fatal(err)
	}
	wire := r.transcript()
	for _, want := range []string{
		"MAIL FROM:<noreply@herald.example>", "RCPT TO:<user000@example.com>", "RCPT TO:<user001@example.com>", "QUIT",
	} {
		if !strings.Contains(wire, want) {
			t.Errorf("no %q in the SMTP conversation:\n%s", want, wire)
		}
	}
}

func TestWithoutSMTPTheOutboxIsTheDestination(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newSender(t, dir, nil)
	for range 2 {
		if err := s.Send(ctx, email("local", 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if out := files(t, dir, "outbox", "*.eml"); len(out) != 1 {
		t.Fatalf("outbox %v, want the one message to stay", out)
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestRelayDownKeepsMailForFlushAfterRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	down := newSender(t, dir, &outboxmail.SMTPConfig{Host: "127.0.0.1", Port: closedPort(t), TLS: outboxmail.TLSNone, Timeout: 2 * time.Second})
	for _, id := range []string{"first", "second"} {
		if err := down.Send(ctx, email(id, 1)); err == nil || errors.Is(err, mail.ErrRejected) {
			t.Fatalf("Send %s with the relay down: %v, want a retryable error", id, err)
		}
	}
	if err := down.Flush(ctx); err == nil {
		t.Fatal("Flush with the relay down succeeded")
	}
	if out := files(t, dir, "outbox", "*.eml"); len(out) != 2 {
		t.Fatalf("outbox %v, want both messages kept", out)
	}

	// The process restarts with the relay up.
	r := startRelay(t, relayOptions{})
	up := newSender(t, dir, smtpTo(r))
	if err := up.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := r.messages()
	if len(msgs) != 2 || !bytes.Contains(msgs[0].data, []byte("Digest first")) {
		t.Fatalf("relay got %d messages, want first then second", len(msgs))
	}
	if out, sent := files(t, dir, "outbox", "*"), files(t, dir, "sent", "*.eml"); len(out) != 0 || len(sent) != 2 {
		t.Fatalf("outbox %v sent %v after flush", out, sent)
	}
	// The bytes sent are the bytes of the file.
	kept, _ := os.ReadFile(files(t, dir, "sent", "*-first.eml")[0])
	if !bytes.Equal(bytes.ReplaceAll(msgs[0].data, []byte("\r\n"), []byte("\n")), bytes.ReplaceAll(kept, []byte("\r\n"), []byte("\n"))) {
		t.Fatal("the relay got other bytes than the outbox file holds")
	}
	if err := up.Flush(ctx); err != nil || len(r.messages()) != 2 {
		t.Fatalf("second flush: %v, %d messages", err, len(r.messages()))
	}
}

func TestFailureAfterTheFirstFiftyResumesWithTheRest(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	r.set(func(r *relay) {
		r.dataErr = func(n int) error {
			if n == 1 {
				return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			}
			return nil
		}
	})
	dir := t.TempDir()
	s := newSender(t, dir, smtpTo(r))
	e := email("big", 120)
	if err := s.Send(ctx, e); err == nil || errors.Is(err, mail.ErrRejected) {
		t.Fatalf("Send: %v, want a retryable error", err)
	}
	if out := files(t, dir, "outbox", "*.eml"); len(out) != 1 {
		t.Fatalf("outbox %v, want the message kept", out)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := r.received()
	for _, to := range e.To {
		if got[to] != 1 {
			t.Errorf("%s received %d copies, want 1", to, got[to])
		}
	}
	for _, m := range r.messages() {
		if len(m.rcpts) > mail.MaxRecipients {
			t.Errorf("a transaction with %d recipients", len(m.rcpts))
		}
	}
	if left := files(t, dir, "outbox", "*"); len(left) != 0 {
		t.Fatalf("outbox %v after the flush, want empty (no progress file either)", left)
	}
}

func TestRejectedMessageMovesToFailed(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	r.set(func(r *relay) {
		r.rcptErr = func(to string) error {
			if strings.HasPrefix(to, "gone") {
				return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}
			return nil
		}
	})
	dir := t.TempDir()
	s := newSender(t, dir, smtpTo(r))
	e := email("bounce", 1)
	e.To = []string{"gone@example.com"}
	err := s.Send(ctx, e)
	if !errors.Is(err, mail.ErrRejected) || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("Send: %v, want mail.ErrRejected with the relay's reason", err)
	}
	if failed := files(t, dir, "failed", "*"); len(failed) != 2 {
		t.Fatalf("failed holds %v, want the message and its .error", failed)
	}
	reason, _ := os.ReadFile(files(t, dir, "failed", "*.error")[0])
	if !strings.Contains(string(reason), "550") {
		t.Fatalf("reason file %q", reason)
	}
	// Neither Flush nor a second Send tries it again, and other mail still goes.
	if err := s.Send(ctx, email("fine", 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, e); !errors.Is(err, mail.ErrRejected) {
		t.Fatalf("second Send: %v, want mail.ErrRejected", err)
	}
	if n := len(r.messages()); n != 1 {
		t.Fatalf("%d messages relayed, want only the good one", n)
	}
}

func TestFlushGoesOnPastARejectedMessage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Written while there was no relay.
	offline := newSender(t, dir, nil)
	bad := email("a-bad", 1)
	bad.To = []string{"gone@example.com"}
	for _, e := range []mail.Email{bad, email("b-good", 1)} {
		if err := offline.Send(ctx, e); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // file names order by time
	}
	r := startRelay(t, relayOptions{})
	r.set(func(r *relay) {
		r.rcptErr = func(to string) error {
			if strings.HasPrefix(to, "gone") {
				return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}
			return nil
		}
	})
	err := newSender(t, dir, smtpTo(r)).Flush(ctx)
	if !errors.Is(err, mail.ErrRejected) {
		t.Fatalf("Flush: %v, want the rejection reported", err)
	}
	if n := len(r.messages()); n != 1 {
		t.Fatalf("%d messages relayed, want the good one after the bad one", n)
	}
}

func TestSMTPFromOverridesHeaderAndEnvelope(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	cfg := smtpTo(r)
	cfg.From = "Herald <verified@relay.example>"
	dir := t.TempDir()
	if err := newSender(t, dir, cfg).Send(ctx, email("override", 1)); err != nil {
		t.Fatal(err)
	}
	m := r.messages()[0]
	msg, err := netmail.ReadMessage(bytes.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	if m.from != "verified@relay.example" || !strings.Contains(msg.Header.Get("From"), "verified@relay.example") {
		t.Fatalf("envelope %q header %q, want verified@relay.example in both", m.from, msg.Header.Get("From"))
	}
	if msg.Header.Get("Message-ID") != "<override@relay.example>" {
		t.Fatalf("Message-ID %q", msg.Header.Get("Message-ID"))
	}
}

func TestTLSModesAndAuth(t *testing.T) {
	t.Parallel()
	serverTLS, roots := selfSigned(t)
	for _, tc := range []struct {
		name     string
		relay    relayOptions
		mode     string
		user     string
		password string
		wantErr  bool
	}{
		{"starttls with auth", relayOptions{tls: serverTLS, username: "herald", password: "s3cret"}, outboxmail.TLSStartTLS, "herald", "s3cret", false},
		{"implicit tls with auth", relayOptions{tls: serverTLS, implicit: true, username: "herald", password: "s3cret"}, outboxmail.TLSImplicit, "herald", "s3cret", false},
		{"none on loopback with auth", relayOptions{username: "herald", password: "s3cret"}, outboxmail.TLSNone, "herald", "s3cret", false},
		{"starttls required but not offered", relayOptions{}, outboxmail.TLSStartTLS, "", "", true},
		{"wrong password", relayOptions{tls: serverTLS, username: "herald", password: "s3cret"}, outboxmail.TLSStartTLS, "herald", "nope", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, tc.relay)
			dir := t.TempDir()
			s := newSender(t, dir, &outboxmail.SMTPConfig{
				Host: "127.0.0.1", Port: r.addr.Port, TLS: tc.mode, Username: tc.user, Password: tc.password,
				TLSConfig: &tls.Config{RootCAs: roots}, Timeout: 5 * time.Second,
			})
			err := s.Send(ctx, email("tls", 1))
			if tc.wantErr {
				if err == nil || errors.Is(err, mail.ErrRejected) || len(r.messages()) != 0 {
					t.Fatalf("Send: %v, %d relayed; want a retryable error and nothing sent", err, len(r.messages()))
				}
				if out := files(t, dir, "outbox", "*.eml"); len(out) != 1 {
					t.Fatalf("outbox %v, want the message kept", out)
				}
				return
			}
			if err != nil || len(r.messages()) != 1 {
				t.Fatalf("Send: %v, %d relayed", err, len(r.messages()))
			}
		})
	}
}

func TestConfigIsChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  outboxmail.SMTPConfig
	}{
		{"no host", outboxmail.SMTPConfig{}},
		{"clear text to another machine", outboxmail.SMTPConfig{Host: "smtp.example.com", TLS: "none"}},
		{"clear text to a private address", outboxmail.SMTPConfig{Host: "10.0.0.5", TLS: "none"}},
		{"unknown TLS mode", outboxmail.SMTPConfig{Host: "smtp.example.com", TLS: "ssl"}},
		{"port out of range", outboxmail.SMTPConfig{Host: "smtp.example.com", Port: 70000}},
		{"username without password", outboxmail.SMTPConfig{Host: "smtp.example.com", Username: "u"}},
		{"invalid from", outboxmail.SMTPConfig{Host: "smtp.example.com", From: "nobody"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := outboxmail.New(t.TempDir(), outboxmail.Options{SMTP: &tc.cfg}); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "[::1]"} {
		if _, err := outboxmail.New(t.TempDir(), outboxmail.Options{SMTP: &outboxmail.SMTPConfig{Host: host, TLS: "none"}}); err != nil {
			t.Errorf("none on %s: %v", host, err)
		}
	}
}

func TestInvalidEmailWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newSender(t, dir, nil)
	e := email("bad", 1)
	e.Headers = map[string]string{"X-A": "b\r\nBcc: victim@example.com"}
	if err := s.Send(ctx, e); !errors.Is(err, mail.ErrInvalid) {
		t.Fatalf("Send: %v, want mail.ErrInvalid", err)
	}
	if out := files(t, dir, "outbox", "*"); len(out) != 0 {
		t.Fatalf("outbox %v", out)
	}
}

func TestCrashLeftoversAreCleanedUp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	newSender(t, dir, nil)
	// A crash mid-write leaves a temporary file, never a partial message in the outbox.
	if err := os.WriteFile(filepath.Join(dir, "tmp", "123.eml"), []byte("Subject: half"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, relayOptions{})
	s := newSender(t, dir, smtpTo(r))
	if tmp := files(t, dir, "tmp", "*"); len(tmp) != 0 {
		t.Fatalf("tmp %v after restart", tmp)
	}
	if err := s.Flush(ctx); err != nil || len(r.messages()) != 0 {
		t.Fatalf("Flush: %v, %d relayed; want nothing to send", err, len(r.messages()))
	}
}

func TestUnreadableOutboxFileMovesToFailed(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	dir := t.TempDir()
	s := newSender(t, dir, smtpTo(r))
	junk := filepath.Join(dir, "outbox", "20260101T000000.000000000Z-junk.eml")
	if err := os.WriteFile(junk, []byte("Subject: no sender, no recipients\r\n\r\nhi\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err == nil {
		t.Fatal("Flush of a message without From or To succeeded")
	}
	if failed := files(t, dir, "failed", "*-junk.eml"); len(failed) != 1 {
		t.Fatalf("failed %v, want the file moved there", failed)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("second Flush: %v, want nothing left to try", err)
	}
}

func TestCancelledContextKeepsTheMessage(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	dir := t.TempDir()
	s := newSender(t, dir, smtpTo(r))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Send(cctx, email("cancelled", 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send: %v, want context.Canceled", err)
	}
	if out := files(t, dir, "outbox", "*.eml"); len(out) != 1 || len(r.messages()) != 0 {
		t.Fatalf("outbox %v, %d relayed", out, len(r.messages()))
	}
	if err := s.Flush(ctx); err != nil || len(r.messages()) != 1 {
		t.Fatalf("Flush: %v, %d relayed", err, len(r.messages()))
	}
}
