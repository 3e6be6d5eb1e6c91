package outboxmail

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/textproto"
	"time"

	gomail "github.com/wneessen/go-mail"
	smtpclient "github.com/wneessen/go-mail/smtp"

	"github.com/heraldhq/herald/shared/mail"
)

// errConnect marks failures to reach or log in to the relay: every other message would fail
// alike, so Flush stops at the first.
var errConnect = errors.New("cannot connect or log in to the SMTP relay")

// session is one lazily opened connection to the relay, reused for the messages of a Flush
// and dropped after any error (the next message dials again).
//
// go-mail dials, negotiates TLS and authenticates; the transaction itself is driven here with
// go-mail's SMTP client so that the bytes sent are exactly the bytes of the outbox file (a
// go-mail Msg would be rebuilt, with a new boundary and Date), and so that a long recipient
// list goes out in transactions of at most mail.MaxRecipients, which SES's SMTP interface and
// other strict relays require.
type session struct {
	cfg    *SMTPConfig
	client *smtpclient.Client
}

func (s *Sender) newSession() *session { return &session{cfg: s.smtp} }

// stepTimeout is the time allowed for the next step: the configured timeout, or less when the
// context ends sooner. go-mail's client takes no context per command, so a cancelled context
// takes effect at the next step or at this deadline.
func (ss *session) stepTimeout(ctx context.Context) time.Duration {
	d := ss.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		d = max(time.Until(dl), time.Millisecond)
	}
	return d
}

func (ss *session) dial(ctx context.Context) error {
	cfg := ss.cfg
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(ss.stepTimeout(ctx))}
	switch cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if cfg.TLSConfig != nil {
		tc := cfg.TLSConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = cfg.Host
		}
		opts = append(opts, gomail.WithTLSConfig(tc))
	}
	if cfg.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover // the strongest mechanism the relay offers
		if cfg.TLS == TLSNone {
			// Over a loopback connection without TLS go-mail's discovery refuses PLAIN and
			// LOGIN, which local relays offer; the password never leaves the machine.
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	c, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("%w: configure client for %s:%d: %w", errConnect, cfg.Host, cfg.Port, err)
	}
	client, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("%w: %s:%d (%s): %w", errConnect, cfg.Host, cfg.Port, cfg.TLS, err)
	}
	ss.client = client
	return nil
}

// send runs one SMTP transaction: raw from from to rcpts. An error closes the connection.
func (ss *session) send(ctx context.Context, from string, rcpts []string, raw []byte) (err error) {
	if ss.client == nil {
		if err := ss.dial(ctx); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			ss.drop()
		}
	}()
	step := func(cmd string, permanentIsMessage bool, f func() error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ss.client.UpdateDeadline(ss.stepTimeout(ctx)); err != nil {
			return err
		}
		return classify(cmd, permanentIsMessage, f())
	}
	// A 5xx to MAIL FROM refuses the sender, which every message shares (a relay that takes
	// only its own address: set SMTPConfig.From): not this message's fault.
	// go-mail's client writes the path as given: "<addr>" (RFC 5321 reverse-path and
	// forward-path), quoted by net/mail when the local part needs it.
	if err := step("MAIL FROM", false, func() error { return ss.client.Mail(smtpPath(from)) }); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := step("RCPT TO "+smtpPath(r), true, func() error { return ss.client.Rcpt(smtpPath(r)) }); err != nil {
			return err
		}
	}
	return step("DATA", true, func() error {
		w, err := ss.client.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write(raw); err != nil {
			_ = w.Close()
			return err
		}
		return w.Close()
	})
}

func smtpPath(addr string) string { return (&netmail.Address{Address: addr}).String() }

// classify names the command that failed and marks a permanent (5xx) reply to a command about
// this message as mail.ErrRejected; 4xx replies and network errors are worth retrying.
func classify(cmd string, permanentIsMessage bool, err error) error {
	if err == nil {
		return nil
	}
	var reply *textproto.Error
	if permanentIsMessage && errors.As(err, &reply) && reply.Code >= 500 && reply.Code < 600 {
		return fmt.Errorf("%s: %w: %w", cmd, mail.ErrRejected, err)
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// drop closes the connection without a goodbye (after an error it may be unusable).
func (ss *session) drop() {
	if ss.client != nil {
		_ = ss.client.Close()
		ss.client = nil
	}
}

// close says QUIT and closes the connection.
func (ss *session) close() {
	if ss.client == nil {
		return
	}
	if err := ss.client.UpdateDeadline(5 * time.Second); err == nil {
		_ = ss.client.Quit()
	}
	ss.drop()
}
