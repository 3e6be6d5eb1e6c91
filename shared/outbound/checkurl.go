package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// URLError is the error CheckURL returns. Part names the piece of the URL that
// is wrong ("url", "scheme", "userinfo", "host" or "port") and Reason says
// what is wrong with it, in words fit for an API client's field error.
// Err, when set, is the underlying cause (ErrBlockedAddress, *net.DNSError,
// a *url.Error, a context error) for errors.Is / errors.As; it is kept out of
// Error() when its text would leak internals such as our resolver address.
type URLError struct {
	Part   string
	Reason string
	Err    error
}

func (e *URLError) Error() string { return "webhook url " + e.Part + ": " + e.Reason }

func (e *URLError) Unwrap() error { return e.Err }

// MaxURLLength bounds every webhook URL, stage or notification, in bytes. 2048 is what
// browsers and most HTTP servers reliably accept, and it keeps a record well inside
// DynamoDB's item limit.
const MaxURLLength = 2048

// CheckURLLength is the part of the URL rule that needs no network: present, and at most
// MaxURLLength bytes. The stores apply it to every webhook they save; CheckURL starts with it.
func CheckURLLength(raw string) error {
	switch {
	case strings.TrimSpace(raw) == "":
		return &URLError{Part: "url", Reason: "is required"}
	case len(raw) > MaxURLLength:
		return &URLError{Part: "url", Reason: fmt.Sprintf("must be at most %d bytes (this one is %d)", MaxURLLength, len(raw))}
	}
	return nil
}

// CheckURL validates a webhook URL at save time: it must be an absolute
// http(s) URL (https unless allowInsecure), carry no userinfo, name a host,
// and have a port in 1-65535 if it has one. An IP-literal host is judged with
// CheckIP directly; a hostname is resolved with r (nil means
// net.DefaultResolver) and refused if ANY resolved address is blocked,
// because the dialer may pick any of them.
//
// Passing CheckURL is not what keeps us safe — DNS can change after save, so
// the dialer of NewClient re-checks every connection — it gives API clients
// an early, specific error. Every error is a *URLError; blocked destinations
// also match errors.Is(err, ErrBlockedAddress). A resolution failure has
// Part "host" and wraps the *net.DNSError, so callers can answer a
// temporary one (IsTemporary/IsTimeout) with 503 instead of 422.
func CheckURL(ctx context.Context, raw string, allowInsecure, allowLoopback bool, r *net.Resolver) error {
	if err := CheckURLLength(raw); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error's text repeats the whole URL; the inner error is
			// the useful part ("invalid port \":x\" after host").
			return &URLError{Part: "url", Reason: "is not a valid URL: " + ue.Err.Error(), Err: err}
		}
		return &URLError{Part: "url", Reason: "is not a valid URL", Err: err}
	}
	if !u.IsAbs() {
		return &URLError{Part: "url", Reason: "must be an absolute URL such as https://example.com/webhooks"}
	}
	// url.Parse has already lower-cased the scheme.
	switch u.Scheme {
	case "https":
	case "http":
		if !allowInsecure {
			return &URLError{Part: "scheme", Reason: "must be https"}
		}
	default:
		want := "https"
		if allowInsecure {
			want = "http or https"
		}
		return &URLError{Part: "scheme", Reason: fmt.Sprintf("%q is not supported: must be %s", u.Scheme, want)}
	}
	if u.Opaque != "" {
		// "https:example.com" parses with no host at all.
		return &URLError{Part: "host", Reason: "is missing: write scheme://host/path"}
	}
	if u.User != nil {
		// Credentials in a URL end up in logs, dashboards and Referer-like
		// places; endpoint authentication belongs in the signature or a
		// header.
		return &URLError{Part: "userinfo", Reason: "must not be present: remove the user:password@ part"}
	}
	host := u.Hostname()
	if host == "" {
		return &URLError{Part: "host", Reason: "is missing"}
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return &URLError{Part: "port", Reason: fmt.Sprintf("%q is out of range: must be 1-65535", p), Err: err}
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return &URLError{Part: "port", Reason: "is empty: remove the trailing colon or give a port"}
	}

	// IP literal: judge it as is, no DNS involved.
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := CheckIP(ip, allowLoopback); err != nil {
			return &URLError{Part: "host", Reason: "is not allowed: " + err.Error(), Err: err}
		}
		return nil
	}

	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return resolveError(host, err)
	}
	if len(addrs) == 0 {
		return &URLError{Part: "host", Reason: fmt.Sprintf("%q has no IP addresses", host)}
	}
	for _, ip := range addrs {
		// The Go resolver returns IPv4 answers as ::ffff:a.b.c.d; unmap so
		// the message shows the address the customer configured.
		if err := CheckIP(ip.Unmap(), allowLoopback); err != nil {
			return &URLError{
				Part:   "host",
				Reason: fmt.Sprintf("%q resolves to a %s", host, err.Error()),
				Err:    err,
			}
		}
	}
	return nil
}

// resolveError turns a lookup failure into a URLError whose text does not
// expose our resolver's address (net.DNSError prints "on 10.x.x.x:53").
func resolveError(host string, err error) error {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &URLError{Part: "host", Reason: fmt.Sprintf("%q could not be resolved in time: try again", host), Err: err}
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return &URLError{Part: "host", Reason: fmt.Sprintf("%q does not exist (no such host)", host), Err: err}
	case errors.As(err, &dnsErr) && (dnsErr.IsTimeout || dnsErr.IsTemporary):
		return &URLError{Part: "host", Reason: fmt.Sprintf("%q could not be resolved right now: try again", host), Err: err}
	default:
		return &URLError{Part: "host", Reason: fmt.Sprintf("%q could not be resolved", host), Err: err}
	}
}
