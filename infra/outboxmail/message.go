package outboxmail

import (
	"bytes"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/heraldhq/herald/shared/mail"
)

// buildMessage renders e as an RFC 5322 message with go-mail: UTF-8 throughout, the subject
// and non-ASCII display names as RFC 2047 encoded words, bodies quoted-printable (7-bit safe,
// and still readable for the mostly-ASCII text of notifications), multipart/alternative when
// there are both a text and an HTML body. Lines end in CRLF, as on the wire.
//
// The Message-ID is derived from e.ID, so a message written twice (a retry after a crash)
// carries the same Message-ID and mail clients can tell the copies apart from new mail.
func buildMessage(e mail.Email, from string, now time.Time) ([]byte, error) {
	m := gomail.NewMsg(
		gomail.WithNoDefaultUserAgent(), // no "User-Agent: go-mail vX" in every message
		gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(gomail.EncodingQP),
	)
	fromAddr, err := mail.ParseAddress("from", from)
	if err != nil {
		return nil, err
	}
	m.FromMailAddress(fromAddr)
	to := make([]*netmail.Address, len(e.To))
	for i, r := range e.To {
		if to[i], err = mail.ParseAddress(fmt.Sprintf("to[%d]", i), r); err != nil {
			return nil, err
		}
	}
	m.ToMailAddress(to...)
	m.Subject(e.Subject)
	m.SetDateWithValue(now)
	m.SetMessageIDWithValue(e.ID + "@" + domainOf(fromAddr.Address))
	for _, name := range e.HeaderNames() {
		m.SetGenHeader(gomail.Header(name), e.Headers[name])
	}
	switch {
	case e.Text != "" && e.HTML != "":
		m.SetBodyString(gomail.TypeTextPlain, e.Text)
		m.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
	case e.Text != "":
		m.SetBodyString(gomail.TypeTextPlain, e.Text)
	default:
		m.SetBodyString(gomail.TypeTextHTML, e.HTML)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func domainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// envelope is who a message file is from and to, for SMTP's MAIL FROM and RCPT TO.
type envelope struct {
	from string
	to   []string
}

// envelopeOf reads the envelope back from a message file's From and To headers: the file is
// the only record a Flush after a restart has.
func envelopeOf(raw []byte) (envelope, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return envelope{}, fmt.Errorf("parse message: %w", err)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 {
		return envelope{}, fmt.Errorf("message From %q: want one address (%v)", msg.Header.Get("From"), err)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) == 0 {
		return envelope{}, fmt.Errorf("message To %q: want addresses (%v)", msg.Header.Get("To"), err)
	}
	env := envelope{from: from[0].Address}
	for _, a := range to {
		env.to = append(env.to, a.Address)
	}
	if env.from == "" {
		return envelope{}, errors.New("message has an empty From address")
	}
	return env, nil
}
