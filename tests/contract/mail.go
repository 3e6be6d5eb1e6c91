package contract

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"testing"

	"github.com/heraldhq/herald/shared/mail"
)

// MailSender is what Herald's notification and digest senders call.
type MailSender interface {
	Send(ctx context.Context, e mail.Email) error
}

// ReceivedMail is one delivered copy of a message as its recipients see it.
type ReceivedMail struct {
	From     string   // the sender's address, e.g. noreply@herald.example
	FromName string   // the sender's display name, decoded
	To       []string // the addresses this copy was delivered to (SMTP: the envelope recipients)
	Subject  string   // decoded
	Text     string   // plain-text body, decoded; "" when there is none
	HTML     string   // HTML body, decoded; "" when there is none
	Headers  map[string]string
}

// MailUnderTest is a sender and a way to read back everything it has delivered. Sent may
// return other tests' mail too (a shared SES stand-in): the suite finds its own by a unique
// token in the subject and recipients.
type MailUnderTest struct {
	Sender MailSender
	Sent   func(t *testing.T) []ReceivedMail
}

// TestMailSender runs the mail-sending contract against a fresh sender per subtest.
func TestMailSender(t *testing.T, newSender func(t *testing.T) MailUnderTest) {
	ctx := context.Background()

	// email returns a valid email whose subject and recipients carry a token unique to this
	// run, so that mailCopies() finds exactly its copies among everything the backend has.
	email := func(t *testing.T, recipients int) (mail.Email, string) {
		tok := mailToken(t)
		e := mail.Email{
			ID:      "contract-" + tok,
			From:    "Herald <noreply@herald.example>",
			Subject: "Herald contract " + tok,
			Text:    "Three tasks were completed.\nSee https://app.example/p/1",
		}
		for i := range recipients {
			e.To = append(e.To, fmt.Sprintf("user%03d+%s@example.com", i, tok))
		}
		return e, tok
	}

	t.Run("plain text arrives as sent", func(t *testing.T) {
		m := newSender(t)
		e, tok := email(t, 1)
		if err := m.Sender.Send(ctx, e); err != nil {
			t.Fatal(err)
		}
		got := onlyCopy(t, mailCopies(t, m, tok))
		if got.From != "noreply@herald.example" || got.FromName != "Herald" {
			t.Errorf("from %q <%s>, want Herald <noreply@herald.example>", got.FromName, got.From)
		}
		if fmt.Sprint(got.To) != fmt.Sprint(e.To) || got.Subject != e.Subject {
			t.Errorf("to %v subject %q, want %v %q", got.To, got.Subject, e.To, e.Subject)
		}
		if mailBody(got.Text) != e.Text || got.HTML != "" {
			t.Errorf("text %q html %q, want text %q only", got.Text, got.HTML, e.Text)
		}
	})

	t.Run("HTML and text both arrive", func(t *testing.T) {
		m := newSender(t)
		e, tok := email(t, 1)
		e.HTML = `<p>Three tasks were <b>completed</b>.</p><p><a href="https://app.example/p/1?a=1&amp;b=2">Open</a></p>`
		if err := m.Sender.Send(ctx, e); err != nil {
			t.Fatal(err)
		}
		got := onlyCopy(t, mailCopies(t, m, tok))
		if mailBody(got.Text) != e.Text || mailBody(got.HTML) != e.HTML {
			t.Errorf("text %q html %q, want %q and %q", got.Text, got.HTML, e.Text, e.HTML)
		}
	})

	t.Run("HTML only arrives without a text part", func(t *testing.T) {
		m := newSender(t)
		e, tok := email(t, 1)
		e.Text, e.HTML = "", "<p>Only HTML</p>"
		if err := m.Sender.Send(ctx, e); err != nil {
			t.Fatal(err)
		}
		got := onlyCopy(t, mailCopies(t, m, tok))
		if mailBody(got.HTML) != e.HTML || got.Text != "" {
			t.Errorf("text %q html %q, want html %q only", got.Text, got.HTML, e.HTML)
		}
	})

	t.Run("UTF-8 subject, bodies and sender name survive", func(t *testing.T) {
		m := newSender(t)
		e, tok := email(t, 1)
		e.From = "Héra 日本 <noreply@herald.example>"
		e.Subject = "Résumé: 3 tâches terminées — 日本語 🎉 " + tok
		e.Text = "Café, naïve, 日本語のテキスト, emoji 🎉👍🏽.\nA long line that goes past seventy-six characters so that encoders must wrap it: ééééééééééééééé."
		e.HTML = "<p>Café — 日本語 🎉</p>"
		if err := m.Sender.Send(ctx, e); err != nil {
			t.Fatal(err)
		}
		got := onlyCopy(t, mailCopies(t, m, tok))
		if got.Subject != e.Subject || got.FromName != "Héra 日本" {
			t.Errorf("subject %q from name %q, want %q and %q", got.Subject, got.FromName, e.Subject, "Héra 日本")
		}
		if mailBody(got.Text) != e.Text || mailBody(got.HTML) != e.HTML {
			t.Errorf("text %q html %q, want %q and %q", got.Text, got.HTML, e.Text, e.HTML)
		}
	})

	t.Run("custom headers arrive", func(t *testing.T) {
		m := newSender(t)
		e, tok := email(t, 1)
		e.Headers = map[string]string{
			"List-Unsubscribe":      "<https://herald.example/unsubscribe?t=" + tok + ">",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		}
		if err := m.Sender.Send(ctx, e); err != nil {
			t.Fatal(err)
		}
		got := onlyCopy(t, mailCopies(t, m, tok))
		for name, want := range e.Headers {
			if got.Headers[name] != want {
				t.Errorf("header %s = %q, want %q", name, got.Headers[name], want)
			}
		}
	})

	t.Run("120 recipients each receive it exactly once", func(t *testing.T) {
		m := newSender(t)
		e, tok := email(t, 120) // SES takes 50 per message: this is three
		if err := m.Sender.Send(ctx, e); err != nil {
			t.Fatal(err)
		}
		copies := map[string]int{}
		for _, got := range mailCopies(t, m, tok) {
			if got.Subject != e.Subject || mailBody(got.Text) != e.Text {
				t.Fatalf("a copy with subject %q text %q", got.Subject, got.Text)
			}
			for _, r := range got.To {
				copies[r]++
			}
		}
		for _, r := range e.To {
			if copies[r] != 1 {
				t.Errorf("%s received %d copies, want 1", r, copies[r])
			}
		}
		if len(copies) != len(e.To) {
			t.Errorf("%d distinct recipients, want %d", len(copies), len(e.To))
		}
	})

	t.Run("invalid emails are refused before anything is sent", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			edit func(*mail.Email)
		}{
			{"header injection in the subject", func(e *mail.Email) { e.Subject += "\r\nBcc: victim@example.com" }},
			{"header injection in a header value", func(e *mail.Email) {
				e.Headers = map[string]string{"List-Unsubscribe": "<https://x.example>\r\nBcc: victim@example.com"}
			}},
			{"a recipient that is not an address", func(e *mail.Email) { e.To = append(e.To, "not an address") }},
			{"no body", func(e *mail.Email) { e.Text = "" }},
			{"no subject", func(e *mail.Email) { e.Subject = "" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := newSender(t)
				e, tok := email(t, 60) // more than one SES message: nothing may go out, not even the first
				tc.edit(&e)
				if err := m.Sender.Send(ctx, e); !errors.Is(err, mail.ErrInvalid) {
					t.Fatalf("Send: %v, want mail.ErrInvalid", err)
				}
				if got := mailCopies(t, m, tok); len(got) != 0 {
					t.Fatalf("%d copies delivered of an invalid email", len(got))
				}
			})
		}
	})
}

// mailCopies returns the copies whose subject or recipients carry tok.
func mailCopies(t *testing.T, m MailUnderTest, tok string) []ReceivedMail {
	t.Helper()
	var out []ReceivedMail
	for _, r := range m.Sent(t) {
		hit := strings.Contains(r.Subject, tok)
		for _, to := range r.To {
			hit = hit || strings.Contains(to, tok)
		}
		if hit {
			out = append(out, r)
		}
	}
	return out
}

func onlyCopy(t *testing.T, got []ReceivedMail) ReceivedMail {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%d copies delivered, want 1: %+v", len(got), got)
	}
	return got[0]
}

// mailBody normalises what transports may change in a body without a reader noticing: line
// endings (CRLF on the wire) and trailing line breaks.
func mailBody(s string) string {
	return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}

func mailToken(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// ParseMessage reads an RFC 5322 message (an .eml file, an SMTP DATA payload) as a recipient's
// mail client would: addresses and the subject decoded from RFC 2047, the text and HTML
// bodies found in a multipart/alternative (or a single part) and decoded from their
// Content-Transfer-Encoding and charset (UTF-8 or US-ASCII). To is the To header; a caller
// that knows the envelope replaces it.
func ParseMessage(raw []byte) (ReceivedMail, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ReceivedMail{}, fmt.Errorf("read message: %w", err)
	}
	var r ReceivedMail
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 {
		return r, fmt.Errorf("From %q: %v", msg.Header.Get("From"), err)
	}
	r.From, r.FromName = from[0].Address, from[0].Name
	to, err := msg.Header.AddressList("To")
	if err != nil {
		return r, fmt.Errorf("To %q: %w", msg.Header.Get("To"), err)
	}
	for _, a := range to {
		r.To = append(r.To, a.Address)
	}
	dec := new(mime.WordDecoder)
	if r.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return r, fmt.Errorf("Subject %q: %w", msg.Header.Get("Subject"), err)
	}
	r.Headers = map[string]string{}
	for k, v := range msg.Header {
		if len(v) > 0 {
			r.Headers[textproto.CanonicalMIMEHeaderKey(k)] = v[0]
		}
	}
	err = readPart(&r, textproto.MIMEHeader(msg.Header), msg.Body)
	return r, err
}

// readPart decodes one MIME entity into r.Text or r.HTML, recursing into multiparts. It uses
// raw parts (multipart.Reader.NextPart would decode quoted-printable silently, and hide whether
// the sender declared it).
func readPart(r *ReceivedMail, h textproto.MIMEHeader, body io.Reader) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii" // RFC 2045's default
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("Content-Type %q: %w", ct, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s part: %w", mediaType, err)
			}
			if err := readPart(r, p.Header, p); err != nil {
				return err
			}
		}
	}
	var dec io.Reader
	switch cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); cte {
	case "quoted-printable":
		dec = quotedprintable.NewReader(body)
	case "base64":
		dec = base64.NewDecoder(base64.StdEncoding, body) // skips the line breaks itself
	case "", "7bit", "8bit", "binary":
		dec = body
	default:
		return fmt.Errorf("Content-Transfer-Encoding %q", cte)
	}
	data, err := io.ReadAll(dec)
	if err != nil {
		return fmt.Errorf("decode %s body: %w", mediaType, err)
	}
	if cs := strings.ToLower(params["charset"]); cs != "" && cs != "utf-8" && cs != "us-ascii" {
		return fmt.Errorf("charset %q: only UTF-8 is expected", cs)
	}
	switch mediaType {
	case "text/plain":
		r.Text = string(data)
	case "text/html":
		r.HTML = string(data)
	}
	return nil
}
