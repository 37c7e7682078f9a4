package errors

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	stderrors "errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// transientErrnos are the system errors of a connection that broke or could
// not be made right now; another attempt may well succeed.
var transientErrnos = []error{
	syscall.ECONNRESET,
	syscall.ECONNREFUSED,
	syscall.ECONNABORTED,
	syscall.EPIPE,
	syscall.ETIMEDOUT,
	syscall.EHOSTUNREACH,
	syscall.ENETUNREACH,
	syscall.ENETDOWN,
}

// Classify says what a Go error means. It looks through %w wrapping:
//
//   - nil gives nil;
//   - an *Error anywhere in the chain is returned as is (already classified);
//   - context.Canceled is Cancelled;
//   - certificate and TLS handshake errors (x509.UnknownAuthorityError,
//     x509.HostnameError, x509.CertificateInvalidError,
//     *tls.CertificateVerificationError, tls.RecordHeaderError) are
//     Unrecoverable: retrying will not fix a certificate;
//   - a *net.DNSError that says the host does not exist (and is neither a
//     timeout nor temporary) is Unrecoverable, its cause prefixed with
//     "unknown host"; other DNS failures are Transient;
//   - context.DeadlineExceeded, any net.Error whose Timeout() is true, broken
//     connections (ECONNRESET, ECONNREFUSED, ECONNABORTED, EPIPE, ETIMEDOUT,
//     unreachable networks), a truncated body (io.ErrUnexpectedEOF, io.EOF)
//     and any other *net.OpError are Transient;
//   - anything else, including a *url.Error around none of the above, is
//     Unrecoverable.
//
// The result's Op is empty and its Err is err (wrapped for unknown hosts). Error() redacts any URL that a
// *url.Error in the chain carries.
func Classify(err error) *Error {
	if err == nil {
		return nil
	}
	var se *Error
	if stderrors.As(err, &se) && se != nil {
		return se
	}
	class := classOfGoError(err)
	var dnsErr *net.DNSError
	if class == Unrecoverable && stderrors.As(err, &dnsErr) {
		// Say it plainly: the operator has a typo in a host name.
		err = fmt.Errorf("unknown host: %w", err)
	}
	return New(class, "", err)
}

func classOfGoError(err error) Class {
	if stderrors.Is(err, context.Canceled) {
		return Cancelled
	}
	if isCertificateError(err) {
		return Unrecoverable
	}
	var dnsErr *net.DNSError
	if stderrors.As(err, &dnsErr) {
		if dnsErr.IsNotFound && !dnsErr.IsTimeout && !dnsErr.IsTemporary {
			return Unrecoverable
		}
		return Transient
	}
	if stderrors.Is(err, context.DeadlineExceeded) {
		return Transient
	}
	var netErr net.Error
	if stderrors.As(err, &netErr) && netErr.Timeout() {
		return Transient
	}
	for _, errno := range transientErrnos {
		if stderrors.Is(err, errno) {
			return Transient
		}
	}
	if stderrors.Is(err, io.ErrUnexpectedEOF) || stderrors.Is(err, io.EOF) {
		return Transient
	}
	// A response cut off inside its header block reads as a malformed
	// header: a broken connection, not a server that speaks no HTTP (the
	// attempt budget bounds the retries either way).
	var protoErr textproto.ProtocolError
	if stderrors.As(err, &protoErr) {
		return Transient
	}
	// Checked last so that the cause inside decides first: an *net.OpError
	// around a certificate error is Unrecoverable, around anything else it
	// is a network failure.
	var opErr *net.OpError
	if stderrors.As(err, &opErr) {
		return Transient
	}
	return Unrecoverable
}

func isCertificateError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
		recordHeader     tls.RecordHeaderError
	)
	return stderrors.As(err, &unknownAuthority) ||
		stderrors.As(err, &hostname) ||
		stderrors.As(err, &invalid) ||
		stderrors.As(err, &verification) ||
		stderrors.As(err, &recordHeader)
}

// causeText is err.Error() with the URL of every *url.Error in the chain
// redacted (net/http puts the full request URL, query string and userinfo
// included, into its errors).
func causeText(err error) string {
	return redactURLErrors(err.Error(), err)
}

// redactURLErrors redacts, in s, the URLs of the *url.Error values in err's
// chain.
func redactURLErrors(s string, err error) string {
	for _, ue := range urlErrors(err) {
		red := Redact(ue.URL)
		s = strings.ReplaceAll(s, strconv.Quote(ue.URL), strconv.Quote(red))
		s = strings.ReplaceAll(s, ue.URL, red)
	}
	return s
}

// urlErrors returns the *url.Error values in err's tree, depth first.
func urlErrors(err error) []*url.Error {
	var out []*url.Error
	var walk func(error)
	walk = func(e error) {
		for e != nil {
			if ue, ok := e.(*url.Error); ok && ue.URL != "" {
				out = append(out, ue)
			}
			switch u := e.(type) {
			case interface{ Unwrap() error }:
				e = u.Unwrap()
			case interface{ Unwrap() []error }:
				for _, inner := range u.Unwrap() {
					walk(inner)
				}
				return
			default:
				return
			}
		}
	}
	walk(err)
	return out
}
