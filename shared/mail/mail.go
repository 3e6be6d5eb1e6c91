// Package mail is what Herald sends by email: notification batches (aggregated every five
// minutes) and digests that summarise a period. It holds the message and its rules; the
// adapters that deliver it (SES on AWS, an outbox folder with optional SMTP on one machine)
// live in infra/ and accept only messages that pass Validate, so that both refuse the same
// input and a message that leaves one runtime would leave the other.
package mail

import (
	"errors"
	"fmt"
	netmail "net/mail"
	"sort"
	"strings"
	"unicode/utf8"
)

// MaxRecipients is the most recipients one SES message may have (To, Cc and Bcc together).
// Adapters split a longer To list into several messages (or SMTP transactions) of at most
// this many recipients, so that the same Email works on SES and on relays as strict as SES's
// own SMTP interface.
const MaxRecipients = 50

// Limits on custom headers, from SES's MessageHeader rules (the strictest receiver we have):
// a name of at most 126 printable ASCII characters without ':', a value of at most 995
// printable ASCII characters, and at most 996 for both together. A line of 998 characters is
// RFC 5322's hard limit, and "Name: value" must fit on one line.
const (
	maxHeaderName     = 126
	maxHeaderValue    = 995
	maxHeaderCombined = 996
	maxIDLength       = 128
)

// reservedHeaders are the header fields an adapter writes from the Email's own fields or from
// MIME structure. Setting them through Headers would either be overwritten silently (SES
// replaces Date and Message-ID) or produce a message with two From or two Content-Type
// fields, so Validate refuses them.
var reservedHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "subject": true, "date": true,
	"message-id": true, "sender": true, "return-path": true, "mime-version": true,
	"content-type": true, "content-transfer-encoding": true,
}

var (
	// ErrInvalid marks an email that fails validation; FieldError says which field and why.
	ErrInvalid = errors.New("invalid email")
	// ErrThrottled means the mail service refused the message because we send too fast or
	// have used up a quota (SES TooManyRequestsException, LimitExceededException). It is our
	// own capacity, not the message's fault: retry later with back-off.
	ErrThrottled = errors.New("mail service throttled the send")
	// ErrRejected means the mail service refused this message for good (SES MessageRejected
	// or an unverified sender, an SMTP 5xx reply to MAIL, RCPT or DATA). Retrying the same
	// message will not help.
	ErrRejected = errors.New("mail service rejected the message")
)

// FieldError names the field at fault and the reason.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("email %s: %s", e.Field, e.Reason) }

// Is lets callers test for ErrInvalid without caring which field.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// PartialError reports a send that reached some recipients before it failed: an Email with
// more than MaxRecipients recipients goes out as several messages, and a failure on a later
// one leaves the earlier ones delivered. Retry with To set to the recipients not in Delivered,
// or recipients get the message twice. errors.Is and errors.As see the cause through it.
type PartialError struct {
	Delivered []string // recipients (as given in Email.To) whose message was accepted
	Err       error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("sent to %d recipients, then: %v", len(e.Delivered), e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// Email is one message to one or more recipients. Every recipient sees the others in To
// (within a chunk of MaxRecipients): send one Email per recipient when they must not.
type Email struct {
	// ID is stable for the logical message (e.g. derived from the digest and its period) and
	// names it in the outbox; adapters that can use it de-duplicate on it. 1 to 128 letters,
	// digits, '.', '-' or '_', so that it is safe in a file name.
	ID      string
	From    string   // one RFC 5322 address, e.g. "Herald <noreply@example.com>"
	To      []string // at least one; more than MaxRecipients are sent in chunks
	Subject string   // required; any Unicode, encoded by the adapter
	Text    string   // plain-text body; at least one of Text and HTML is required
	HTML    string   // HTML body
	// Headers are extra header fields, e.g. List-Unsubscribe and List-Unsubscribe-Post. Names
	// and values are printable ASCII; fields that adapters set themselves (From, To, Subject,
	// Date, Message-ID, MIME and transfer-encoding fields…) are refused.
	Headers map[string]string
}

// Validate checks the email before anything leaves the system. Line breaks are refused in
// every field that becomes a header, so no input can add a header (a Bcc, say) of its own.
func (e Email) Validate() error {
	if err := validateID(e.ID); err != nil {
		return err
	}
	if _, err := ParseAddress("from", e.From); err != nil {
		return err
	}
	if len(e.To) == 0 {
		return &FieldError{Field: "to", Reason: "at least one recipient is required"}
	}
	seen := make(map[string]int, len(e.To))
	for i, to := range e.To {
		field := fmt.Sprintf("to[%d]", i)
		a, err := ParseAddress(field, to)
		if err != nil {
			return err
		}
		key := strings.ToLower(a.Address)
		if j, dup := seen[key]; dup {
			return &FieldError{Field: field, Reason: fmt.Sprintf("%s is already to[%d]; a recipient would get the message twice", a.Address, j)}
		}
		seen[key] = i
	}
	if strings.TrimSpace(e.Subject) == "" {
		return &FieldError{Field: "subject", Reason: "is required"}
	}
	if err := noLineBreaks("subject", e.Subject); err != nil {
		return err
	}
	if e.Text == "" && e.HTML == "" {
		return &FieldError{Field: "text", Reason: "a text or an HTML body is required"}
	}
	for _, f := range []struct{ name, value string }{{"subject", e.Subject}, {"text", e.Text}, {"html", e.HTML}} {
		if !utf8.ValidString(f.value) {
			return &FieldError{Field: f.name, Reason: "is not valid UTF-8"}
		}
	}
	for _, name := range e.HeaderNames() {
		if err := validateHeader(name, e.Headers[name]); err != nil {
			return err
		}
	}
	return nil
}

// HeaderNames returns the names of Headers in sorted order, so that adapters write them in
// the same order every time (golden files, stable message bytes).
func (e Email) HeaderNames() []string {
	names := make([]string, 0, len(e.Headers))
	for name := range e.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ParseAddress parses one address of field ("from", "to[3]"): an RFC 5322 mailbox with an
// ASCII addr-spec (SES and SMTP servers without SMTPUTF8 take nothing else; a display name
// may be any Unicode) and no line breaks. Adapters use it to format what they send.
func ParseAddress(field, s string) (*netmail.Address, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &FieldError{Field: field, Reason: "an email address is required"}
	}
	if err := noLineBreaks(field, s); err != nil {
		return nil, err
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, &FieldError{Field: field, Reason: fmt.Sprintf("%q is not an email address: %v", s, err)}
	}
	for _, r := range a.Address {
		if r < 0x21 || r > 0x7e {
			return nil, &FieldError{Field: field, Reason: fmt.Sprintf("%q: the address itself must be ASCII (use punycode for the domain)", s)}
		}
	}
	return a, nil
}

func validateID(id string) error {
	if id == "" || len(id) > maxIDLength || id[0] == '.' {
		return &FieldError{Field: "id", Reason: "must be 1 to 128 letters, digits, '.', '-' or '_', not starting with '.'"}
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return &FieldError{Field: "id", Reason: fmt.Sprintf("%q must be letters, digits, '.', '-' or '_' (it names files)", id)}
		}
	}
	return nil
}

func validateHeader(name, value string) error {
	field := "headers[" + name + "]"
	if name == "" || len(name) > maxHeaderName {
		return &FieldError{Field: field, Reason: "a header name is 1 to 126 characters"}
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x21 || c > 0x7e || c == ':' {
			return &FieldError{Field: field, Reason: "a header name is printable ASCII without spaces or ':'"}
		}
	}
	if reservedHeaders[strings.ToLower(name)] {
		return &FieldError{Field: field, Reason: "is set from the email's own fields and cannot be overridden"}
	}
	if err := noLineBreaks(field, value); err != nil {
		return err
	}
	if strings.TrimSpace(value) == "" {
		return &FieldError{Field: field, Reason: "a header value is required"}
	}
	if len(value) > maxHeaderValue || len(name)+len(value) > maxHeaderCombined {
		return &FieldError{Field: field, Reason: "is too long: at most 995 characters, 996 with the name"}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c > 0x7e {
			return &FieldError{Field: field, Reason: "a header value is printable ASCII (encode anything else, e.g. percent-encode URLs)"}
		}
	}
	return nil
}

func noLineBreaks(field, s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return &FieldError{Field: field, Reason: "must not contain line breaks or NUL (header injection)"}
	}
	return nil
}

// Chunks splits recipients into consecutive groups of at most MaxRecipients, in order.
func Chunks(recipients []string) [][]string {
	var out [][]string
	for start := 0; start < len(recipients); start += MaxRecipients {
		end := min(start+MaxRecipients, len(recipients))
		out = append(out, recipients[start:end:end])
	}
	return out
}
