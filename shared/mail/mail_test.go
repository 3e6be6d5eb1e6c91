package mail

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func valid() Email {
	return Email{
		ID: "digest-tenant-a-2026-11-28.1205", From: "Herald <noreply@herald.example>",
		To: []string{"ana@example.com"}, Subject: "Your digest", Text: "Hello",
		Headers: map[string]string{"List-Unsubscribe": "<https://herald.example/u?t=abc>"},
	}
}

func TestValidateAcceptsGoodEmails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*Email)
	}{
		{"as is", func(*Email) {}},
		{"HTML only", func(e *Email) { e.Text, e.HTML = "", "<p>Hello</p>" }},
		{"Unicode subject, body and display name", func(e *Email) {
			e.Subject, e.Text, e.From = "Résumé 日本語 🎉", "é 日本語 🎉", "Héra 日本 <noreply@herald.example>"
		}},
		{"bare addresses", func(e *Email) { e.From, e.To = "noreply@herald.example", []string{"a@b.example"} }},
		{"more than one SES message of recipients", func(e *Email) { e.To = addresses(120) }},
		{"no headers", func(e *Email) { e.Headers = nil }},
		{"Reply-To header", func(e *Email) { e.Headers = map[string]string{"Reply-To": "support@herald.example"} }},
		{"longest header", func(e *Email) { e.Headers = map[string]string{"X-A": strings.Repeat("v", 993)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := valid()
			tc.edit(&e)
			if err := e.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, field string
		edit        func(*Email)
	}{
		{"no id", "id", func(e *Email) { e.ID = "" }},
		{"id with a slash", "id", func(e *Email) { e.ID = "../etc/passwd" }},
		{"id starting with a dot", "id", func(e *Email) { e.ID = ".hidden" }},
		{"id too long", "id", func(e *Email) { e.ID = strings.Repeat("a", 129) }},
		{"no from", "from", func(e *Email) { e.From = "" }},
		{"from not an address", "from", func(e *Email) { e.From = "herald" }},
		{"two from addresses", "from", func(e *Email) { e.From = "a@b.example, c@d.example" }},
		{"from with a line break", "from", func(e *Email) { e.From = "a@b.example\r\nBcc: evil@x.example" }},
		{"no recipients", "to", func(e *Email) { e.To = nil }},
		{"empty recipient", "to[1]", func(e *Email) { e.To = []string{"a@b.example", " "} }},
		{"recipient with a line break", "to[0]", func(e *Email) { e.To = []string{"a@b.example\nBcc: evil@x.example"} }},
		{"recipient with a Unicode local part", "to[0]", func(e *Email) { e.To = []string{"josé@example.com"} }},
		{"duplicate recipient", "to[1]", func(e *Email) { e.To = []string{"Ana <ana@example.com>", "ANA@example.com"} }},
		{"no subject", "subject", func(e *Email) { e.Subject = "  " }},
		{"subject with CRLF", "subject", func(e *Email) { e.Subject = "Hi\r\nBcc: evil@x.example" }},
		{"subject with LF", "subject", func(e *Email) { e.Subject = "Hi\nthere" }},
		{"no body", "text", func(e *Email) { e.Text, e.HTML = "", "" }},
		{"invalid UTF-8 body", "text", func(e *Email) { e.Text = "caf\xe9" }},
		{"header value with CRLF", "headers[List-Unsubscribe]", func(e *Email) {
			e.Headers["List-Unsubscribe"] = "<https://x>\r\nBcc: evil@x.example"
		}},
		{"header value with a bare CR", "headers[X-A]", func(e *Email) { e.Headers = map[string]string{"X-A": "a\rb"} }},
		{"header name with a colon", "headers[X-A:]", func(e *Email) { e.Headers = map[string]string{"X-A:": "b"} }},
		{"header name with a space", "headers[X A]", func(e *Email) { e.Headers = map[string]string{"X A": "b"} }},
		{"header name with a line break", "headers[X\nBcc]", func(e *Email) { e.Headers = map[string]string{"X\nBcc": "b"} }},
		{"reserved header", "headers[bcc]", func(e *Email) { e.Headers = map[string]string{"bcc": "evil@x.example"} }},
		{"reserved Content-Type", "headers[Content-Type]", func(e *Email) { e.Headers = map[string]string{"Content-Type": "text/html"} }},
		{"non-ASCII header value", "headers[X-A]", func(e *Email) { e.Headers = map[string]string{"X-A": "é"} }},
		{"header value too long", "headers[X-A]", func(e *Email) { e.Headers = map[string]string{"X-A": strings.Repeat("v", 994)} }},
		{"empty header value", "headers[X-A]", func(e *Email) { e.Headers = map[string]string{"X-A": ""} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := valid()
			tc.edit(&e)
			err := e.Validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate: %v, want ErrInvalid", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Reason == "" {
				t.Fatalf("Validate: %#v, want a FieldError on %q with a reason", err, tc.field)
			}
		})
	}
}

func TestChunks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, want int }{{1, 1}, {50, 1}, {51, 2}, {120, 3}, {150, 3}} {
		to := addresses(tc.n)
		chunks := Chunks(to)
		if len(chunks) != tc.want {
			t.Fatalf("%d recipients: %d chunks, want %d", tc.n, len(chunks), tc.want)
		}
		var joined []string
		for _, c := range chunks {
			if len(c) == 0 || len(c) > MaxRecipients {
				t.Fatalf("%d recipients: a chunk of %d", tc.n, len(c))
			}
			joined = append(joined, c...)
		}
		if fmt.Sprint(joined) != fmt.Sprint(to) {
			t.Fatalf("%d recipients: chunks lose or reorder recipients", tc.n)
		}
		// Appending to a chunk must not overwrite the next one.
		_ = append(chunks[0], "x@y.example")
		if tc.n > MaxRecipients && chunks[1][0] != to[MaxRecipients] {
			t.Fatal("chunks share spare capacity")
		}
	}
}

func TestPartialErrorUnwraps(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("send digest: %w", &PartialError{Delivered: []string{"a@b.example"}, Err: fmt.Errorf("chunk 2: %w", ErrThrottled)})
	var pe *PartialError
	if !errors.Is(err, ErrThrottled) || !errors.As(err, &pe) || len(pe.Delivered) != 1 {
		t.Fatalf("%v: want ErrThrottled and a PartialError with one delivered recipient", err)
	}
}

func addresses(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user%03d@example.com", i)
	}
	return out
}
