package contract_test

import (
	"context"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/heraldhq/herald/infra/outboxmail"
	"github.com/heraldhq/herald/infra/sesmail"
	"github.com/heraldhq/herald/shared/mail"
	"github.com/heraldhq/herald/tests/contract"
	"github.com/heraldhq/herald/tests/standin"
)

func TestSESMailSender(t *testing.T) {
	contract.TestMailSender(t, func(t *testing.T) contract.MailUnderTest {
		return contract.MailUnderTest{
			Sender: sesmail.New(standin.SESv2(t), sesmail.Options{}),
			Sent:   sesSent,
		}
	})
}

// TestSESMailSplitsIntoMessagesOfFifty checks on the stand-in what SES would enforce: no
// message with more than 50 recipients (the stand-in itself takes any number).
func TestSESMailSplitsIntoMessagesOfFifty(t *testing.T) {
	s := sesmail.New(standin.SESv2(t), sesmail.Options{})
	tok := standin.UniqueName("chunks")
	e := mail.Email{ID: tok, From: "noreply@herald.example", Subject: "chunks " + tok, Text: "hi"}
	for i := range 120 {
		e.To = append(e.To, fmt.Sprintf("u%03d+%s@example.com", i, tok))
	}
	if err := s.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, m := range sesSent(t) {
		if m.Subject == e.Subject {
			sizes = append(sizes, len(m.To))
		}
	}
	if fmt.Sprint(sizes) != "[50 50 20]" {
		t.Fatalf("messages of %v recipients, want [50 50 20]", sizes)
	}
}

// sesSent reads the SES stand-in's store (every test package's mail) as recipients see it.
func sesSent(t *testing.T) []contract.ReceivedMail {
	t.Helper()
	var out []contract.ReceivedMail
	for _, m := range standin.SentEmails(t) {
		r := contract.ReceivedMail{Subject: m.Subject, Text: m.Body.Text, HTML: m.Body.HTML, Headers: map[string]string{}}
		from, err := netmail.ParseAddress(m.From) // decodes an RFC 2047 display name
		if err != nil {
			t.Fatalf("stand-in message %s: From %q: %v", m.MessageID, m.From, err)
		}
		r.From, r.FromName = from.Address, from.Name
		for _, to := range m.Destination.To {
			a, err := netmail.ParseAddress(to)
			if err != nil {
				t.Fatalf("stand-in message %s: To %q: %v", m.MessageID, to, err)
			}
			r.To = append(r.To, a.Address)
		}
		for _, h := range m.Headers {
			r.Headers[h.Name] = h.Value
		}
		out = append(out, r)
	}
	return out
}

func TestOutboxMailSender(t *testing.T) {
	contract.TestMailSender(t, func(t *testing.T) contract.MailUnderTest {
		dir := t.TempDir()
		s, err := outboxmail.New(dir, outboxmail.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return contract.MailUnderTest{Sender: s, Sent: func(t *testing.T) []contract.ReceivedMail {
			return readEMLFiles(t, filepath.Join(dir, "outbox"))
		}}
	})
}

// readEMLFiles parses every .eml file of dir as a mail client would.
func readEMLFiles(t *testing.T, dir string) []contract.ReceivedMail {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	var out []contract.ReceivedMail
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := contract.ParseMessage(raw)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, r)
	}
	return out
}

func TestOutboxSMTPMailSender(t *testing.T) {
	contract.TestMailSender(t, func(t *testing.T) contract.MailUnderTest {
		relay := startSMTPRelay(t)
		dir := t.TempDir()
		s, err := outboxmail.New(dir, outboxmail.Options{SMTP: &outboxmail.SMTPConfig{
			Host: "127.0.0.1", Port: relay.port, TLS: outboxmail.TLSNone,
		}})
		if err != nil {
			t.Fatal(err)
		}
		return contract.MailUnderTest{Sender: s, Sent: func(t *testing.T) []contract.ReceivedMail {
			t.Helper()
			if left, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml")); len(left) != 0 {
				t.Errorf("%d messages left in the outbox after sending", len(left))
			}
			var out []contract.ReceivedMail
			for _, m := range relay.messages() {
				r, err := contract.ParseMessage(m.data)
				if err != nil {
					t.Fatalf("message from %s: %v", m.from, err)
				}
				r.To = m.rcpts // delivered to the envelope, not to the To header
				out = append(out, r)
			}
			return out
		}}
	})
}

// smtpRelay is a go-smtp server on 127.0.0.1 that keeps every message it accepts. It takes at
// most 50 recipients per transaction, as SES's SMTP interface does.
type smtpRelay struct {
	port int
	mu   sync.Mutex
	got  []relayed
}

type relayed struct {
	from  string
	rcpts []string
	data  []byte
}

func startSMTPRelay(t *testing.T) *smtpRelay {
	t.Helper()
	r := &smtpRelay{}
	srv := gosmtp.NewServer(r)
	srv.Domain = "relay.test"
	srv.MaxRecipients = mail.MaxRecipients
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func (r *smtpRelay) messages() []relayed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]relayed(nil), r.got...)
}

func (r *smtpRelay) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	return &relaySession{relay: r}, nil
}

type relaySession struct {
	relay *smtpRelay
	from  string
	rcpts []string
}

func (s *relaySession) Mail(from string, _ *gosmtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *relaySession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, strings.ToLower(to))
	return nil
}

func (s *relaySession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.relay.mu.Lock()
	s.relay.got = append(s.relay.got, relayed{from: s.from, rcpts: s.rcpts, data: data})
	s.relay.mu.Unlock()
	return nil
}

func (s *relaySession) Reset()        { s.from, s.rcpts = "", nil }
func (s *relaySession) Logout() error { return nil }
