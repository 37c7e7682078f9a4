package sink

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedactDSN(t *testing.T) {
	tests := []struct {
		dsn, want string
	}{
		{"postgres://app:s3cret@db:5432/x?sslmode=disable", "postgres://app:xxxxx@db:5432/x?sslmode=disable"},
		{"postgres://app@db/x", "postgres://app@db/x"},
		{"postgres://db/x?password=s3cret&user=app", "postgres://db/x?password=xxxxx&user=app"},
		{"sqlite:///var/lib/s.db", "sqlite:///var/lib/s.db"},
		{"host=db user=app password=s3cret", "host=db user=app password=xxxxx"},
		{"postgres://app:s3cret@db:bad port/x", "postgres://app:xxxxx@db:bad port/x"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			assert.Equal(t, tt.want, RedactDSN(tt.dsn))
		})
	}
}
