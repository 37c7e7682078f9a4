package codec_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	stderrors "errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/codec"
	"github.com/syncflow/syncflow/errors"
)

// newKey returns a fresh key entry ID:BASE64.
func newKey(id string) string {
	b := make([]byte, codec.KeySize)
	_, _ = rand.Read(b)
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

func mustCodec(t *testing.T, spec string, compress bool) *codec.Codec {
	t.Helper()
	keys, err := codec.ParseKeys(spec, "test")
	require.NoError(t, err)
	c, err := codec.New(keys, compress)
	require.NoError(t, err)
	return c
}

const secretInput = `{"url":"https://api.example.com/v1/orders?cursor=abc123"}`

func TestRoundTripAndFreshNonce(t *testing.T) {
	for _, compress := range []bool{false, true} {
		c := mustCodec(t, newKey("k1"), compress)
		dc := c.DataConverter()
		p1, err := dc.ToPayload(secretInput + strings.Repeat(" pad", 100))
		require.NoError(t, err)
		p2, err := dc.ToPayload(secretInput + strings.Repeat(" pad", 100))
		require.NoError(t, err)
		require.Equal(t, codec.Encoding, string(p1.Metadata[converter.MetadataEncoding]))
		require.Equal(t, "k1", string(p1.Metadata[codec.MetadataKeyID]))
		require.NotContains(t, string(p1.Data), "api.example.com", "the data is ciphertext")
		require.NotEqual(t, p1.Data, p2.Data, "each payload gets a fresh nonce")
		if compress {
			require.Equal(t, codec.CipherAESGCMZlib, string(p1.Metadata[codec.MetadataCipher]))
		}
		var got string
		require.NoError(t, dc.FromPayload(p1, &got))
		require.Equal(t, secretInput+strings.Repeat(" pad", 100), got)
	}
}

func TestRotationLastEncryptsAnyDecrypts(t *testing.T) {
	old := newKey("2025")
	oldCodec := mustCodec(t, old, false)
	p, err := oldCodec.DataConverter().ToPayload(secretInput)
	require.NoError(t, err)

	rotated := mustCodec(t, old+","+newKey("2026"), false)
	require.Equal(t, "2026", rotated.EncryptingKeyID())
	var got string
	require.NoError(t, rotated.DataConverter().FromPayload(p, &got), "the old key still decrypts")
	require.Equal(t, secretInput, got)

	p2, err := rotated.DataConverter().ToPayload(secretInput)
	require.NoError(t, err)
	require.Equal(t, "2026", string(p2.Metadata[codec.MetadataKeyID]), "the last key encrypts")
	err = oldCodec.DataConverter().FromPayload(p2, &got)
	var de *codec.DecodeError
	require.ErrorAs(t, err, &de)
	require.True(t, de.Unknown)
	require.Contains(t, err.Error(), `key ID "2026"`)
}

func TestUnknownWrongAndTamperedKeys(t *testing.T) {
	c := mustCodec(t, newKey("a"), false)
	p, err := c.DataConverter().ToPayload(secretInput)
	require.NoError(t, err)
	var s string

	none := mustNoKeys(t)
	err = none.DataConverter().FromPayload(p, &s)
	require.ErrorContains(t, err, `key ID "a"`)
	require.ErrorContains(t, err, "no codec keys")

	sameIDOtherKey := mustCodec(t, newKey("a"), false)
	err = sameIDOtherKey.DataConverter().FromPayload(p, &s)
	var de *codec.DecodeError
	require.ErrorAs(t, err, &de)
	require.False(t, de.Unknown)
	require.ErrorContains(t, err, `key ID "a" does not decrypt`)

	tampered := &commonpb.Payload{Metadata: map[string][]byte{}, Data: bytes.Clone(p.Data)}
	for k, v := range p.Metadata {
		tampered.Metadata[k] = v
	}
	tampered.Metadata[codec.MetadataCipher] = []byte(codec.CipherAESGCMZlib)
	require.Error(t, c.DataConverter().FromPayload(tampered, &s), "the cipher name is authenticated")
}

func mustNoKeys(t *testing.T) *codec.Codec {
	c, err := codec.New(nil, false)
	require.NoError(t, err)
	return c
}

func TestNoKeysChangesNothing(t *testing.T) {
	c := mustNoKeys(t)
	require.False(t, c.Enabled())
	plain, err := converter.GetDefaultDataConverter().ToPayload(secretInput)
	require.NoError(t, err)
	got, err := c.DataConverter().ToPayload(secretInput)
	require.NoError(t, err)
	require.Equal(t, plain.Data, got.Data)
}

func TestParseKeysErrorsNameTheKeyNotTheSecret(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("sixteen-byte-key"))
	for spec, want := range map[string]string{
		"":                              "no key",
		"nocolon":                       "key 1: want ID:BASE64KEY",
		newKey("a") + ",b:%%%":          `key 2 ("b"): not standard base64`,
		"c:" + short:                    `key 1 ("c"): 16 bytes, want 32`,
		newKey("d") + "," + newKey("d"): `"d" is given twice`,
	} {
		keys, err := codec.ParseKeys(spec, codec.EnvKeys)
		if err == nil {
			_, err = codec.New(keys, false)
		}
		require.ErrorContains(t, err, want, spec)
		require.NotContains(t, err.Error(), short)
	}
}

func TestFromEnvAndFile(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	c, err := codec.FromEnv(env(nil))
	require.NoError(t, err)
	require.False(t, c.Enabled())

	file := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(file, []byte(newKey("one")+"\n"+newKey("two")+"\n"), 0o600))
	c, err = codec.FromEnv(env(map[string]string{codec.EnvKeysFile: file}))
	require.NoError(t, err)
	require.Equal(t, []string{"one", "two"}, c.KeyIDs())

	_, err = codec.FromEnv(env(map[string]string{codec.EnvKeysFile: file, codec.EnvKeys: newKey("x")}))
	require.ErrorContains(t, err, "both set")
	_, err = codec.FromEnv(env(map[string]string{codec.EnvKeys: "x:short"}))
	require.ErrorContains(t, err, codec.EnvKeys)
}

func TestDecodeFailureIsUnrecoverableAndNamesTheKey(t *testing.T) {
	c := mustCodec(t, newKey("k2"), false)
	fc := c.FailureConverter()
	cause := &codec.DecodeError{KeyID: "k1", Known: []string{"k2"}, Unknown: true}
	f := fc.ErrorToFailure(stderrors.Join(stderrors.New("unable to decode the activity function input payload"), cause))
	require.True(t, f.GetApplicationFailureInfo().GetNonRetryable())
	require.Equal(t, errors.TypeUnrecoverable, f.GetApplicationFailureInfo().GetType())
	require.Equal(t, "Encoded failure", f.GetMessage(), "with keys, the message is encrypted")

	back := fc.FailureToError(f)
	var app *temporal.ApplicationError
	require.ErrorAs(t, back, &app)
	require.Contains(t, app.Error(), `key ID "k1"`)
}

func TestHandlerChecksTokenAndOrigin(t *testing.T) {
	c := mustCodec(t, newKey("k"), false)
	srv := httptest.NewServer(c.Handler(codec.HandlerOptions{Origins: []string{"http://127.0.0.1:8233"}, Token: "s3cret"}))
	defer srv.Close()
	p, err := c.DataConverter().ToPayload(secretInput)
	require.NoError(t, err)
	body, err := (&converter.ProtoJSONPayloadConverter{}).ToPayload(&commonpb.Payloads{Payloads: []*commonpb.Payload{p}})
	require.NoError(t, err)

	post := func(auth, origin string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(body.Data))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	code, _ := post("", "")
	require.Equal(t, http.StatusUnauthorized, code, "missing token")
	code, _ = post("Bearer nope", "")
	require.Equal(t, http.StatusUnauthorized, code, "wrong token")
	code, _ = post("Bearer s3cret", "http://evil.example")
	require.Equal(t, http.StatusForbidden, code, "foreign origin")
	code, out := post("Bearer s3cret", "http://127.0.0.1:8233")
	require.Equal(t, http.StatusOK, code)
	raw, _ := base64.StdEncoding.DecodeString(strings.Split(strings.Split(out, `"data":"`)[1], `"`)[0])
	require.Contains(t, string(raw), "api.example.com", "decoded")
}

func TestListenAddrDefaultsToLocalhost(t *testing.T) {
	require.Equal(t, "127.0.0.1:8234", codec.ListenAddr(":8234"))
	require.Equal(t, "127.0.0.1:8234", codec.ListenAddr("8234"))
	require.Equal(t, "0.0.0.0:8234", codec.ListenAddr("0.0.0.0:8234"))
}

// BenchmarkEncodeDecode measures a round trip of a 2 KiB JSON payload
// (about a SyncPagesInput); figures go in BENCHMARKS.md, never in tests.
func BenchmarkEncodeDecode(b *testing.B) {
	for _, compress := range []bool{false, true} {
		name := "aes-gcm"
		if compress {
			name = "zlib+aes-gcm"
		}
		b.Run(name, func(b *testing.B) {
			keys, _ := codec.ParseKeys(newKey("k"), "bench")
			c, _ := codec.New(keys, compress)
			dc := c.DataConverter()
			in := strings.Repeat(secretInput, 2048/len(secretInput))
			b.ReportAllocs()
			for b.Loop() {
				p, err := dc.ToPayload(in)
				if err != nil {
					b.Fatal(err)
				}
				var out string
				if err := dc.FromPayload(p, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
