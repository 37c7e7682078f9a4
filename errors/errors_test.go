package errors_test

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
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sferrors "github.com/syncflow/syncflow/errors"
)

var allClasses = []sferrors.Class{
	sferrors.Transient, sferrors.RateLimited, sferrors.InvalidRequest,
	sferrors.Cancelled, sferrors.Unrecoverable,
}

func TestClassTemporalType(t *testing.T) {
	tests := []struct {
		class     sferrors.Class
		typ       string
		retryable bool
	}{
		{sferrors.Transient, sferrors.TypeTransient, true},
		{sferrors.RateLimited, sferrors.TypeRateLimited, true},
		{sferrors.InvalidRequest, sferrors.TypeInvalidRequest, false},
		{sferrors.Cancelled, sferrors.TypeCancelled, false},
		{sferrors.Unrecoverable, sferrors.TypeUnrecoverable, false},
		{sferrors.Class("nonsense"), sferrors.TypeUnrecoverable, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.class), func(t *testing.T) {
			assert.Equal(t, tt.typ, tt.class.TemporalType())
			assert.Equal(t, tt.retryable, tt.class.Retryable())
		})
	}
}

func TestClassFromType(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range allClasses {
		typ := c.TemporalType()
		assert.False(t, seen[typ], "type %q used twice", typ)
		seen[typ] = true
		got, ok := sferrors.ClassFromType(typ)
		assert.True(t, ok, typ)
		assert.Equal(t, c, got)
	}
	for _, typ := range []string{"", "SyncflowTransientX", "syncflowtransient", "*errors.errorString"} {
		_, ok := sferrors.ClassFromType(typ)
		assert.False(t, ok, typ)
	}
}

func TestNew(t *testing.T) {
	cause := stderrors.New("disk full")
	tests := []struct {
		name  string
		err   *sferrors.Error
		class sferrors.Class
		msg   string
		is    error
	}{
		{"with cause", sferrors.New(sferrors.Unrecoverable, "commit", cause), sferrors.Unrecoverable, "commit: disk full", cause},
		{"without cause", sferrors.New(sferrors.InvalidRequest, "config", nil), sferrors.InvalidRequest, "config", nil},
		{"newf wraps", sferrors.Newf(sferrors.InvalidRequest, "parse", "record %d: %w", 3, cause), sferrors.InvalidRequest, "parse: record 3: disk full", cause},
		{"newf plain", sferrors.Newf(sferrors.InvalidRequest, "config", "unknown dataset %q", "x"), sferrors.InvalidRequest, `config: unknown dataset "x"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.class, tt.err.Class)
			assert.Equal(t, tt.msg, tt.err.Error())
			if tt.is != nil {
				assert.ErrorIs(t, tt.err, tt.is)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *sferrors.Error
		want string
	}{
		{"http", &sferrors.Error{Op: "fetch", Method: "GET", URL: "https://api.example.com/x", Status: 404, Body: "not found"},
			"fetch GET https://api.example.com/x: status 404: not found"},
		{"no op", &sferrors.Error{Err: io.ErrUnexpectedEOF}, "unexpected EOF"},
		{"url error cause is redacted", &sferrors.Error{Op: "fetch", Err: fmt.Errorf("page 2: %w",
			&url.Error{Op: "Get", URL: "https://bob:hunter2@api.example.com/x?token=s3cr3t&page=2", Err: syscall.ECONNREFUSED})},
			`fetch: page 2: Get "https://api.example.com/x?token=REDACTED&page=2": connection refused`},
		{"joined url errors are redacted", &sferrors.Error{Err: stderrors.Join(stderrors.New("a"),
			&url.Error{Op: "Get", URL: "https://h/?api_key=k3y", Err: io.EOF})},
			"a\nGet \"https://h/?api_key=REDACTED\": EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
		})
	}
}

// timeoutError is a net.Error that timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var (
	alreadyClassified = sferrors.New(sferrors.InvalidRequest, "config", nil)
	testCert          = &x509.Certificate{}
)

// opErr is a read that failed with errno.
func opErr(errno error) error {
	return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errno)}
}

// urlErr is err as net/http returns it, with a secret in the URL.
func urlErr(err error) error {
	return &url.Error{Op: "Get", URL: "https://api.example.com/orders?token=s3cr3t", Err: err}
}

// classifyTests are the cases of TestClassify.
var classifyTests = []struct {
	name string
	err  error
	want sferrors.Class
}{
	{"context canceled", context.Canceled, sferrors.Cancelled},
	{"deadline exceeded", context.DeadlineExceeded, sferrors.Transient},
	{"net.Error timeout", timeoutError{}, sferrors.Transient},
	{"os deadline exceeded", os.ErrDeadlineExceeded, sferrors.Transient},
	{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}}, sferrors.Transient},
	{"dns not found", &net.DNSError{Err: "no such host", Name: "api.example.invalid", IsNotFound: true}, sferrors.Unrecoverable},
	{"dns temporary", &net.DNSError{Err: "server misbehaving", Name: "api.example.com", IsTemporary: true}, sferrors.Transient},
	{"dns timeout", &net.DNSError{Err: "i/o timeout", Name: "api.example.com", IsTimeout: true}, sferrors.Transient},
	{"unknown authority", x509.UnknownAuthorityError{Cert: testCert}, sferrors.Unrecoverable},
	{"hostname mismatch", x509.HostnameError{Certificate: testCert, Host: "api.example.com"}, sferrors.Unrecoverable},
	{"certificate expired", x509.CertificateInvalidError{Cert: testCert, Reason: x509.Expired}, sferrors.Unrecoverable},
	{"tls verification", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{Cert: testCert}}, sferrors.Unrecoverable},
	{"tls record header", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, sferrors.Unrecoverable},
	{"connection reset", opErr(syscall.ECONNRESET), sferrors.Transient},
	{"connection refused", opErr(syscall.ECONNREFUSED), sferrors.Transient},
	{"connection aborted", opErr(syscall.ECONNABORTED), sferrors.Transient},
	{"broken pipe", opErr(syscall.EPIPE), sferrors.Transient},
	{"bare errno", syscall.ECONNRESET, sferrors.Transient},
	{"unexpected EOF", io.ErrUnexpectedEOF, sferrors.Transient},
	{"EOF mid-body", io.EOF, sferrors.Transient},
	{"headers cut off", urlErr(fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", textproto.ProtocolError("malformed MIME header: missing colon"))), sferrors.Transient},
	{"other net.OpError", &net.OpError{Op: "dial", Net: "tcp", Err: stderrors.New("network is down somehow")}, sferrors.Transient},
	{"url error around refused", urlErr(opErr(syscall.ECONNREFUSED)), sferrors.Transient},
	{"url error around timeout", urlErr(timeoutError{}), sferrors.Transient},
	{"url error around EOF", urlErr(io.EOF), sferrors.Transient},
	{"url error around certificate", urlErr(&tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: testCert, Host: "h"}}), sferrors.Unrecoverable},
	{"url error around unknown host", urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "h", IsNotFound: true}}), sferrors.Unrecoverable},
	{"url error around something else", urlErr(stderrors.New("unsupported protocol scheme")), sferrors.Unrecoverable},
	{"net.OpError around certificate", &net.OpError{Op: "remote error", Err: tls.RecordHeaderError{Msg: "bad"}}, sferrors.Unrecoverable},
	{"anything else", stderrors.New("boom"), sferrors.Unrecoverable},
	{"already classified", alreadyClassified, sferrors.InvalidRequest},
}

func TestClassify(t *testing.T) {
	for _, tt := range classifyTests {
		for _, wrapped := range []bool{false, true} {
			name := tt.name
			err := tt.err
			if wrapped {
				name += "/wrapped"
				err = fmt.Errorf("sync page 7: %w", err)
			}
			t.Run(name, func(t *testing.T) {
				got := sferrors.Classify(err)
				require.NotNil(t, got)
				assert.Equal(t, tt.want, got.Class)
				assert.ErrorIs(t, got, tt.err, "the cause stays reachable")
				assert.NotContains(t, got.Error(), "s3cr3t")
			})
		}
	}
}

func TestClassifySpecialCases(t *testing.T) {
	t.Run("nil", func(t *testing.T) {
		assert.Nil(t, sferrors.Classify(nil))
	})
	t.Run("already classified is returned as is", func(t *testing.T) {
		e := sferrors.New(sferrors.RateLimited, "fetch", nil)
		assert.Same(t, e, sferrors.Classify(fmt.Errorf("outer: %w", e)))
	})
	t.Run("unknown host says so", func(t *testing.T) {
		e := sferrors.Classify(&net.DNSError{Err: "no such host", Name: "api.example.invalid", IsNotFound: true})
		assert.Contains(t, e.Error(), "unknown host")
	})
}
