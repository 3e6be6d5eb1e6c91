package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/heraldhq/herald/shared/outbound"
)

// Class is a stable code for why an attempt failed. The delivery log and metrics use it, so
// values never change once published.
type Class string

// Failure classes.
const (
	ClassNone              Class = ""
	ClassDNS               Class = "dns_error"
	ClassConnectionRefused Class = "connection_refused"
	ClassConnectionReset   Class = "connection_reset"
	ClassTimeout           Class = "timeout"
	ClassTLS               Class = "tls_error"
	ClassBlockedAddress    Class = "blocked_address"
	ClassNetwork           Class = "network_error"
	ClassHTTP3xx           Class = "http_3xx"
	ClassHTTP4xx           Class = "http_4xx"
	ClassHTTP5xx           Class = "http_5xx"
	ClassHTTPGone          Class = "http_410"
	ClassBadEndpoint       Class = "invalid_endpoint"
	// ClassWebhookDisabled marks the record of a job that was not attempted because its
	// webhook is disabled; recover sends it again once the webhook is enabled.
	ClassWebhookDisabled Class = "webhook_disabled"
)

// ClassifyStatus returns the class of a non-2xx status.
func ClassifyStatus(code int) Class {
	switch {
	case code >= 200 && code < 300:
		return ClassNone
	case code == 410:
		return ClassHTTPGone
	case code >= 300 && code < 400:
		return ClassHTTP3xx
	case code >= 400 && code < 500:
		return ClassHTTP4xx
	default:
		return ClassHTTP5xx
	}
}

// ClassifyError maps a transport error to a class. Order matters: a dial refused by the
// address guard is wrapped in an *net.OpError too, and a TLS handshake that times out is a
// timeout to the receiver's operator.
func ClassifyError(err error) Class {
	var dnsErr *net.DNSError
	var certInvalid x509.CertificateInvalidError
	var unknownAuth x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	var certVerify *tls.CertificateVerificationError
	switch {
	case err == nil:
		return ClassNone
	case errors.Is(err, outbound.ErrBlockedAddress):
		return ClassBlockedAddress
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ClassTimeout
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return ClassTimeout
		}
		return ClassDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassConnectionRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ClassConnectionReset
	case errors.As(err, &certInvalid), errors.As(err, &unknownAuth), errors.As(err, &hostname),
		errors.As(err, &recordErr), errors.As(err, &alert), errors.As(err, &certVerify):
		return ClassTLS
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return ClassTimeout
	}
	return ClassNetwork
}
