package sink

import (
	"strings"
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
		// Passwords with '/', '@' and ':', unescaped and escaped.
		{"postgres://app:pa/ss@db:5432/x", "postgres://app:xxxxx@db:5432/x"},
		{"postgres://app:p@ss@db:5432/x", "postgres://app:xxxxx@db:5432/x"},
		{"postgres://app:p:a:ss@db:5432/x", "postgres://app:xxxxx@db:5432/x"},
		{"postgres://app:a/b@c:d@db/x?sslmode=disable", "postgres://app:xxxxx@db/x?sslmode=disable"},
		{"postgres://app:p%2F%40%3Ass@db/x", "postgres://app:xxxxx@db/x"},
		{"postgres://app:pw?x@db/x", "postgres://app:xxxxx@db/x"},
		// libpq key/value forms, quoted or not, any case, spaces around '='.
		{"host=db password='value with space' dbname=x", "host=db password=xxxxx dbname=x"},
		{`host=db password='it\'s secret' dbname=x`, "host=db password=xxxxx dbname=x"},
		{"host=db password = secret dbname=x", "host=db password = xxxxx dbname=x"},
		{"host=db PASSWORD=secret", "host=db PASSWORD=xxxxx"},
		{"host=db password='unterminated secret", "host=db password=xxxxx"},
		{"postgres://db/x?sslpassword=k3y&password=p%40ss", "postgres://db/x?sslpassword=xxxxx&password=xxxxx"},
		// A ${NAME} reference holds no secret: it stays, naming the variable.
		{"postgres://app:${PG_PASSWORD}@db:5432/x", "postgres://app:${PG_PASSWORD}@db:5432/x"},
		{"postgres://db/x?password=${PG_PASSWORD}", "postgres://db/x?password=${PG_PASSWORD}"},
		{"postgres://app:x${PG_PASSWORD}@db/x", "postgres://app:xxxxx@db/x"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			got := RedactDSN(tt.dsn)
			assert.Equal(t, tt.want, got)
			for _, secret := range []string{"s3cret", "secret", "pa/ss", "p@ss", "p:a:ss", "a/b@c:d", "value with space", "k3y"} {
				if strings.Contains(tt.dsn, secret) {
					assert.NotContains(t, got, secret)
				}
			}
		})
	}
}

func TestDSNHostAndPassword(t *testing.T) {
	tests := []struct {
		dsn, host, password string
		hasPassword         bool
	}{
		{"postgres://app:${PG_PASSWORD}@db.example:5432/sync", "db.example", "${PG_PASSWORD}", true},
		{"postgres://app:pa/ss@db:5432/x", "db", "pa/ss", true},
		{"postgres://app@127.0.0.1/x?sslmode=disable", "127.0.0.1", "", false},
		{"postgresql://[::1]:5432/x", "::1", "", false},
		{"sqlite:///var/lib/a@b.db", "", "", false},
		{"host=db user=app password=x", "db", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			assert.Equal(t, tt.host, DSNHost(tt.dsn))
			pw, ok := DSNPassword(tt.dsn)
			assert.Equal(t, tt.hasPassword, ok)
			assert.Equal(t, tt.password, pw)
		})
	}
}

func TestLiteralPassword(t *testing.T) {
	tests := []struct {
		dsn   string
		where string
	}{
		{"postgres://app:${PG_PASSWORD}@db:5432/sync", ""},
		{"postgres://app@db:5432/sync", ""},
		{"postgres://app:@db:5432/sync", ""},
		{"postgres://db/sync?password=${PG_PASSWORD}", ""},
		{"postgres://db/sync?password=%24%7BPG_PASSWORD%7D", ""},
		{"sqlite:///data/a:b@c.db", ""},
		{"postgres://app:s3cret@db:5432/sync", "password in the userinfo"},
		{"postgres://app:pre${PG_PASSWORD}@db/sync", "password in the userinfo"},
		{"postgres://app:p/w@d@db/sync", "password in the userinfo"},
		{"postgres://db/sync?user=app&password=s3cret", "password parameter"},
		{"host=db password='with space'", "password parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			where, ok := LiteralPassword(tt.dsn)
			assert.Equal(t, tt.where != "", ok)
			assert.Equal(t, tt.where, where)
		})
	}
}
