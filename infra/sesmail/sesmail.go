// Package sesmail sends Herald's email through Amazon SES v2 (SendEmail with Simple content):
// SES builds the MIME message, encodes the UTF-8 subject and bodies, signs it with DKIM and
// delivers it.
package sesmail

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/heraldhq/herald/shared/mail"
)

// ErrThrottled is mail.ErrThrottled: SES answered TooManyRequestsException (sending rate) or
// LimitExceededException (a quota) even after the SDK's own retries (the standard retryer
// retries both, three attempts by default). errors.Is(err, ErrThrottled) tells a caller to
// put the work back and try again later rather than count it as a failure of the message.
var ErrThrottled = mail.ErrThrottled

// charset is declared on the subject and both bodies: SES assumes 7-bit ASCII otherwise and
// would mangle "é", "日本語" or an emoji. With it, SES encodes the subject (RFC 2047) and the
// bodies itself.
const charset = "UTF-8"

// Options configure a Sender.
type Options struct {
	// ConfigurationSet names the SES configuration set to send with (event publishing of
	// bounces and complaints, dedicated IP pools). Empty: the account's default.
	ConfigurationSet string
}

// Sender sends mail.Email through SES v2.
type Sender struct {
	client *sesv2.Client
	opts   Options
}

// New returns a Sender that sends through client (build it once per execution environment).
func New(client *sesv2.Client, opts Options) *Sender {
	return &Sender{client: client, opts: opts}
}

// Send validates e and sends it with one SendEmail call per MaxRecipients (50) recipients,
// in order; each call's message shows only its own recipients in To. SES has no idempotency
// key, so sending the same e twice sends it twice: de-duplicate on e.ID before calling.
//
// Errors wrap mail.ErrInvalid (nothing sent), ErrThrottled (retry later), or mail.ErrRejected
// (SES refused the message or the sender: retrying will not help). When a call after the
// first fails, the error is a *mail.PartialError naming the recipients already sent to.
func (s *Sender) Send(ctx context.Context, e mail.Email) error {
	if err := e.Validate(); err != nil {
		return err
	}
	from, err := formatAddress("from", e.From)
	if err != nil {
		return err
	}
	chunks := mail.Chunks(e.To)
	var delivered []string
	for i, chunk := range chunks {
		in, err := s.input(e, from, chunk)
		if err != nil {
			return err
		}
		if _, err := s.client.SendEmail(ctx, in); err != nil {
			err = fmt.Errorf("ses send email %s (message %d of %d, %d recipients): %w",
				e.ID, i+1, len(chunks), len(chunk), classify(err))
			if len(delivered) > 0 {
				return &mail.PartialError{Delivered: delivered, Err: err}
			}
			return err
		}
		delivered = append(delivered, chunk...)
	}
	return nil
}

func (s *Sender) input(e mail.Email, from string, to []string) (*sesv2.SendEmailInput, error) {
	dest := make([]string, len(to))
	for i, a := range to {
		f, err := formatAddress(fmt.Sprintf("to[%d]", i), a)
		if err != nil {
			return nil, err
		}
		dest[i] = f
	}
	msg := &types.Message{
		Subject: &types.Content{Data: aws.String(e.Subject), Charset: aws.String(charset)},
		Body:    &types.Body{},
	}
	if e.Text != "" {
		msg.Body.Text = &types.Content{Data: aws.String(e.Text), Charset: aws.String(charset)}
	}
	if e.HTML != "" {
		msg.Body.Html = &types.Content{Data: aws.String(e.HTML), Charset: aws.String(charset)}
	}
	// Simple content takes custom headers since SES v2 added Message.Headers (2024); the SDK
	// version in go.mod has the field, so List-Unsubscribe needs no Raw message.
	for _, name := range e.HeaderNames() {
		msg.Headers = append(msg.Headers, types.MessageHeader{Name: aws.String(name), Value: aws.String(e.Headers[name])})
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &types.Destination{ToAddresses: dest},
		Content:          &types.EmailContent{Simple: msg},
	}
	if s.opts.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(s.opts.ConfigurationSet)
	}
	return in, nil
}

// formatAddress writes an address as SES wants it: the bare address when there is no display
// name, else "name <address>" with a non-ASCII name in RFC 2047 encoded words (SES refuses raw
// non-ASCII in address fields).
func formatAddress(field, s string) (string, error) {
	a, err := mail.ParseAddress(field, s)
	if err != nil {
		return "", err
	}
	if a.Name == "" {
		return a.Address, nil
	}
	return a.String(), nil
}

// classify adds the kind of an SES error to it, keeping the SDK error (and its request ID)
// in the chain.
func classify(err error) error {
	var (
		tooMany    *types.TooManyRequestsException
		limit      *types.LimitExceededException
		rejected   *types.MessageRejected
		unverified *types.MailFromDomainNotVerifiedException
		badRequest *types.BadRequestException
	)
	switch {
	case errors.As(err, &tooMany), errors.As(err, &limit):
		return fmt.Errorf("%w: %w", mail.ErrThrottled, err)
	case errors.As(err, &rejected), errors.As(err, &unverified), errors.As(err, &badRequest):
		return fmt.Errorf("%w: %w", mail.ErrRejected, err)
	default:
		// AccountSuspended, SendingPaused, NotFound (configuration set) and transport errors:
		// our own outage or configuration, not the message's fault.
		return err
	}
}
