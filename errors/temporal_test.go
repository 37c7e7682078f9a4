package errors_test

import (
	"context"
	stderrors "errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	sferrors "github.com/syncflow/syncflow/errors"
)

const secretURL = "https://api.example.com/orders?page=3&token=s3cr3t"

// toApplicationErrorTests are the cases of TestToApplicationError.
var toApplicationErrorTests = []struct {
	name         string
	err          error
	typ          string
	nonRetryable bool
	delay        time.Duration
	benign       bool
	details      sferrors.Details
	isCanceled   bool
}{
	{
		name: "429 with Retry-After",
		err:  sferrors.FromResponse("GET", secretURL, 429, hdr("Retry-After", "30"), []byte("slow down"), now),
		typ:  sferrors.TypeRateLimited, delay: 30 * time.Second, benign: true,
		details: sferrors.Details{Class: sferrors.RateLimited, Op: "fetch", Status: 429, Method: "GET",
			URL: "https://api.example.com/orders?page=3&token=REDACTED", RetryAfter: 30 * time.Second},
	},
	{
		name: "429 without hint",
		err:  sferrors.FromResponse("GET", secretURL, 429, nil, nil, now),
		typ:  sferrors.TypeRateLimited, benign: true,
		details: sferrors.Details{Class: sferrors.RateLimited, Op: "fetch", Status: 429, Method: "GET",
			URL: "https://api.example.com/orders?page=3&token=REDACTED"},
	},
	{
		name: "502 wrapped",
		err:  fmt.Errorf("page 3: %w", sferrors.FromResponse("GET", secretURL, 502, nil, nil, now)),
		typ:  sferrors.TypeTransient,
		details: sferrors.Details{Class: sferrors.Transient, Op: "fetch", Status: 502, Method: "GET",
			URL: "https://api.example.com/orders?page=3&token=REDACTED"},
	},
	{
		name: "404",
		err:  sferrors.FromResponse("GET", secretURL, 404, nil, nil, now),
		typ:  sferrors.TypeInvalidRequest, nonRetryable: true,
		details: sferrors.Details{Class: sferrors.InvalidRequest, Op: "fetch", Status: 404, Method: "GET",
			URL: "https://api.example.com/orders?page=3&token=REDACTED"},
	},
	{
		name: "401",
		err:  sferrors.FromResponse("GET", secretURL, 401, nil, nil, now),
		typ:  sferrors.TypeUnrecoverable, nonRetryable: true,
		details: sferrors.Details{Class: sferrors.Unrecoverable, Op: "fetch", Status: 401, Method: "GET",
			URL: "https://api.example.com/orders?page=3&token=REDACTED"},
	},
	{
		name:    "connection reset inside url.Error",
		err:     fmt.Errorf("fetch: %w", &url.Error{Op: "Get", URL: secretURL, Err: syscall.ECONNRESET}),
		typ:     sferrors.TypeTransient,
		details: sferrors.Details{Class: sferrors.Transient},
	},
	{
		name: "plain error",
		err:  stderrors.New("schema mismatch"),
		typ:  sferrors.TypeUnrecoverable, nonRetryable: true,
		details: sferrors.Details{Class: sferrors.Unrecoverable},
	},
	{
		name: "explicit cancellation",
		err:  sferrors.New(sferrors.Cancelled, "sync", nil),
		typ:  sferrors.TypeCancelled, nonRetryable: true,
		details: sferrors.Details{Class: sferrors.Cancelled, Op: "sync"},
	},
	{
		name:       "context cancelled keeps its cause and stays retryable",
		err:        fmt.Errorf("waiting for limiter: %w", context.Canceled),
		typ:        sferrors.TypeCancelled,
		details:    sferrors.Details{Class: sferrors.Cancelled},
		isCanceled: true,
	},
}

func TestToApplicationError(t *testing.T) {
	for _, tt := range toApplicationErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			got := sferrors.ToApplicationError(tt.err)
			var appErr *temporal.ApplicationError
			require.True(t, stderrors.As(got, &appErr))
			assert.Same(t, appErr, got, "the top-level error is the ApplicationError")
			assert.Equal(t, tt.typ, appErr.Type())
			assert.Equal(t, tt.nonRetryable, appErr.NonRetryable())
			assert.Equal(t, tt.delay, appErr.NextRetryDelay())
			assert.Equal(t, tt.benign, appErr.Category() == temporal.ApplicationErrorCategoryBenign)
			assert.Equal(t, sferrors.Classify(tt.err).Error(), appErr.Message())
			assert.NotContains(t, appErr.Error(), "s3cr3t")
			assert.Equal(t, tt.isCanceled, stderrors.Is(got, context.Canceled))
			var d sferrors.Details
			require.NoError(t, appErr.Details(&d))
			assert.Equal(t, tt.details, d)
		})
	}
}

func TestToApplicationErrorPassesTemporalErrorsThrough(t *testing.T) {
	appErr := temporal.NewApplicationError("custom", "Custom", nil)
	canceled := temporal.NewCanceledError()
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"nil", nil, nil},
		{"application error", appErr, appErr},
		{"wrapped application error", fmt.Errorf("outer: %w", appErr), appErr},
		{"canceled error", fmt.Errorf("outer: %w", canceled), canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sferrors.ToApplicationError(tt.err)
			if tt.want == nil {
				assert.NoError(t, got)
				return
			}
			assert.Same(t, tt.want, got)
		})
	}
}

func TestClassOf(t *testing.T) {
	rateLimited := sferrors.ToApplicationError(sferrors.FromResponse("GET", secretURL, 429, hdr("Retry-After", "5"), nil, now))
	tests := []struct {
		name    string
		err     error
		want    sferrors.Class
		details sferrors.Details
		ok      bool
	}{
		{"nil", nil, "", sferrors.Details{}, false},
		{"syncflow application error wrapped", fmt.Errorf("activity: %w", rateLimited), sferrors.RateLimited,
			sferrors.Details{Class: sferrors.RateLimited, Op: "fetch", Status: 429, Method: "GET",
				URL: "https://api.example.com/orders?page=3&token=REDACTED", RetryAfter: 5 * time.Second}, true},
		{"each type", temporal.NewApplicationErrorWithOptions("x", sferrors.TypeInvalidRequest, temporal.ApplicationErrorOptions{NonRetryable: true}),
			sferrors.InvalidRequest, sferrors.Details{Class: sferrors.InvalidRequest}, true},
		{"details of another type are ignored", temporal.NewApplicationError("x", sferrors.TypeTransient, "not details", 42),
			sferrors.Transient, sferrors.Details{Class: sferrors.Transient}, true},
		{"foreign application error", temporal.NewApplicationError("x", "SomethingElse", nil), sferrors.Unrecoverable,
			sferrors.Details{Class: sferrors.Unrecoverable}, true},
		{"canceled", fmt.Errorf("activity: %w", temporal.NewCanceledError()), sferrors.Cancelled,
			sferrors.Details{Class: sferrors.Cancelled}, true},
		{"timeout", fmt.Errorf("activity: %w", temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, rateLimited)), sferrors.Transient,
			sferrors.Details{Class: sferrors.Transient}, true},
		{"syncflow error", fmt.Errorf("local: %w", sferrors.New(sferrors.InvalidRequest, "config", nil)), sferrors.InvalidRequest,
			sferrors.Details{Class: sferrors.InvalidRequest, Op: "config"}, true},
		{"joined", stderrors.Join(stderrors.New("first"), rateLimited), sferrors.RateLimited,
			sferrors.Details{Class: sferrors.RateLimited, Op: "fetch", Status: 429, Method: "GET",
				URL: "https://api.example.com/orders?page=3&token=REDACTED", RetryAfter: 5 * time.Second}, true},
		{"anything else", stderrors.New("boom"), sferrors.Unrecoverable, sferrors.Details{Class: sferrors.Unrecoverable}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class, details, ok := sferrors.ClassOf(tt.err)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, class)
			assert.Equal(t, tt.details, details)
		})
	}
}

// roundTripResult is what classWorkflow reports.
type roundTripResult struct {
	Class   sferrors.Class
	Details sferrors.Details
	OK      bool
}

const failingActivity = "Failing"

// classWorkflow runs failingActivity with up to maxAttempts attempts and
// returns the class of its failure.
func classWorkflow(ctx workflow.Context, maxAttempts int32) (roundTripResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumAttempts:    maxAttempts,
		},
	})
	err := workflow.ExecuteActivity(ctx, failingActivity).Get(ctx, nil)
	class, details, ok := sferrors.ClassOf(err)
	return roundTripResult{Class: class, Details: details, OK: ok}, nil
}

// TestClassOfRoundTrip sends each class through the SDK's test server: an
// activity returns ToApplicationError(...), the workflow classifies what
// ExecuteActivity returned, and the retry policy sees the right
// retryability.
func TestClassOfRoundTrip(t *testing.T) {
	const maxAttempts = 3
	tests := []struct {
		name     string
		err      error
		want     sferrors.Class
		details  sferrors.Details
		attempts int32
	}{
		{"transient is retried", sferrors.FromResponse("GET", secretURL, 503, nil, nil, now), sferrors.Transient,
			sferrors.Details{Class: sferrors.Transient, Op: "fetch", Status: 503, Method: "GET", URL: "https://api.example.com/orders?page=3&token=REDACTED"}, maxAttempts},
		{"rate limited is retried", sferrors.FromResponse("GET", secretURL, 429, hdr("Retry-After", "2"), nil, now), sferrors.RateLimited,
			sferrors.Details{Class: sferrors.RateLimited, Op: "fetch", Status: 429, Method: "GET", URL: "https://api.example.com/orders?page=3&token=REDACTED", RetryAfter: 2 * time.Second}, maxAttempts},
		{"invalid request is not retried", sferrors.FromResponse("POST", secretURL, 422, nil, []byte("bad"), now), sferrors.InvalidRequest,
			sferrors.Details{Class: sferrors.InvalidRequest, Op: "fetch", Status: 422, Method: "POST", URL: "https://api.example.com/orders?page=3&token=REDACTED"}, 1},
		{"unrecoverable is not retried", sferrors.FromResponse("GET", secretURL, 401, nil, nil, now), sferrors.Unrecoverable,
			sferrors.Details{Class: sferrors.Unrecoverable, Op: "fetch", Status: 401, Method: "GET", URL: "https://api.example.com/orders?page=3&token=REDACTED"}, 1},
		{"explicit cancellation is not retried", sferrors.New(sferrors.Cancelled, "sync", nil), sferrors.Cancelled,
			sferrors.Details{Class: sferrors.Cancelled, Op: "sync"}, 1},
		{"context cancelled without a cancel request is retried", fmt.Errorf("worker stopping: %w", context.Canceled), sferrors.Cancelled,
			sferrors.Details{Class: sferrors.Cancelled}, maxAttempts},
		{"network error", &url.Error{Op: "Get", URL: secretURL, Err: syscall.ECONNREFUSED}, sferrors.Transient,
			sferrors.Details{Class: sferrors.Transient}, maxAttempts},
		{"plain go error", stderrors.New("disk full"), sferrors.Unrecoverable,
			sferrors.Details{Class: sferrors.Unrecoverable}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			var attempts atomic.Int32
			env.RegisterActivityWithOptions(func(ctx context.Context) error {
				attempts.Add(1)
				return sferrors.ToApplicationError(tt.err)
			}, activity.RegisterOptions{Name: failingActivity})
			env.RegisterWorkflow(classWorkflow)

			env.ExecuteWorkflow(classWorkflow, int32(maxAttempts))

			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			var res roundTripResult
			require.NoError(t, env.GetWorkflowResult(&res))
			assert.True(t, res.OK)
			assert.Equal(t, tt.want, res.Class)
			assert.Equal(t, tt.details, res.Details)
			assert.Equal(t, tt.attempts, attempts.Load())
		})
	}
}
