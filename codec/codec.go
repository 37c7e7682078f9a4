// Package codec encrypts the payloads syncflow hands to Temporal (workflow
// inputs and results, activity inputs, results and heartbeats, signals,
// summaries, failure messages) with AES-256-GCM, so that Temporal's database
// and Web UI hold only ciphertext (ARCHITECTURE.md §Payload encryption).
//
// Keys come from SYNCFLOW_CODEC_KEYS=ID:BASE64KEY[,ID:BASE64KEY…] or from
// the file SYNCFLOW_CODEC_KEYS_FILE names: 32-byte keys in standard base64;
// the last key encrypts, every key decrypts. Each encrypted payload carries
// the ID of the key that encrypted it in its metadata and a fresh random
// nonce in its data; SYNCFLOW_CODEC_COMPRESS=true compresses payloads
// (zlib) before encrypting them when that makes them smaller.
//
// The package also serves Temporal's remote codec protocol (/encode,
// /decode) for the Web UI and the temporal CLI: see Handler.
package codec

import (
	"bytes"
	"compress/zlib"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Payload metadata written by the codec. The encoding and key ID names are
// the ones Temporal's samples use, so that tools recognise an encrypted
// payload.
const (
	// Encoding is the metadata "encoding" of an encrypted payload.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key that encrypted the payload.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher says how the data was made: CipherAESGCM, or
	// CipherAESGCMZlib when it was compressed first.
	MetadataCipher = "encryption-cipher"
)

// Values of MetadataCipher.
const (
	CipherAESGCM     = "AES256GCM"
	CipherAESGCMZlib = "AES256GCM+zlib"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// Codec is a converter.PayloadCodec that encrypts with its last key and
// decrypts with any of its keys. A Codec without keys encrypts nothing and
// refuses, with a *DecodeError, to decode an encrypted payload. It is safe
// for concurrent use.
type Codec struct {
	ids      []string               // in the order given; the last encrypts
	aeads    map[string]cipher.AEAD // by key ID
	compress bool
}

// DecodeError is a payload this process cannot decrypt: its key ID is not
// among the process's keys, or the key with that ID does not open it.
type DecodeError struct {
	// KeyID is the ID in the payload's metadata.
	KeyID string
	// Known are the IDs of this process's keys.
	Known []string
	// Unknown is true when no key has KeyID; false when the key with that
	// ID failed to open the payload (other key material, or altered data).
	Unknown bool
}

func (e *DecodeError) Error() string {
	switch {
	case e.Unknown && len(e.Known) == 0:
		return fmt.Sprintf("codec: payload is encrypted with key ID %q, and this process has no codec keys: set %s (or %s) to keys including %q",
			e.KeyID, EnvKeys, EnvKeysFile, e.KeyID)
	case e.Unknown:
		return fmt.Sprintf("codec: payload is encrypted with key ID %q, which is not among this process's codec keys (%s): add it to %s",
			e.KeyID, strings.Join(e.Known, ", "), EnvKeys)
	default:
		return fmt.Sprintf("codec: payload encrypted with key ID %q does not decrypt with this process's key %q: the key material differs from the one that encrypted it, or the payload was altered",
			e.KeyID, e.KeyID)
	}
}

// New returns a codec with keys (in order: the last one encrypts). No keys
// gives a codec that encrypts nothing (see Codec).
func New(keys []Key, compress bool) (*Codec, error) {
	c := &Codec{aeads: map[string]cipher.AEAD{}, compress: compress}
	for _, k := range keys {
		if err := checkKeyID(k.ID); err != nil {
			return nil, err
		}
		if _, dup := c.aeads[k.ID]; dup {
			return nil, fmt.Errorf("codec: key ID %q is given twice", k.ID)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("codec: key %q is %d bytes, want %d (AES-256)", k.ID, len(k.Secret), KeySize)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", k.ID, err)
		}
		c.aeads[k.ID] = aead
		c.ids = append(c.ids, k.ID)
	}
	return c, nil
}

// Enabled reports whether c has keys, and so encrypts.
func (c *Codec) Enabled() bool { return c != nil && len(c.ids) > 0 }

// KeyIDs returns the IDs of c's keys, the encrypting one last.
func (c *Codec) KeyIDs() []string { return slices.Clone(c.ids) }

// EncryptingKeyID is the ID of the key c encrypts with; "" without keys.
func (c *Codec) EncryptingKeyID() string {
	if len(c.ids) == 0 {
		return ""
	}
	return c.ids[len(c.ids)-1]
}

// Encode implements converter.PayloadCodec: each payload, marshalled (and
// compressed when that is on and helps), sealed with the encrypting key
// under a fresh random nonce. Without keys it returns payloads as they are.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if !c.Enabled() {
		return payloads, nil
	}
	id := c.EncryptingKeyID()
	aead := c.aeads[id]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("codec: marshal payload: %w", err)
		}
		cipherName := CipherAESGCM
		if c.compress {
			if z, ok := compress(plain); ok {
				plain, cipherName = z, CipherAESGCMZlib
			}
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return payloads, fmt.Errorf("codec: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(id),
				MetadataCipher:             []byte(cipherName),
			},
			Data: aead.Seal(nonce, nonce, plain, additionalData(id, cipherName)),
		}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec: payloads this codec encrypted
// are opened with the key their metadata names; any other payload is
// returned as it is. A payload whose key is missing or does not open it
// gives a *DecodeError naming the key ID.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		d, err := c.open(p)
		if err != nil {
			return payloads, err
		}
		out[i] = d
	}
	return out, nil
}

// open decrypts one encrypted payload.
func (c *Codec) open(p *commonpb.Payload) (*commonpb.Payload, error) {
	id := string(p.GetMetadata()[MetadataKeyID])
	cipherName := string(p.GetMetadata()[MetadataCipher])
	aead, ok := c.aeads[id]
	if !ok {
		return nil, &DecodeError{KeyID: id, Known: c.KeyIDs(), Unknown: true}
	}
	if cipherName != CipherAESGCM && cipherName != CipherAESGCMZlib {
		return nil, fmt.Errorf("codec: payload encrypted with key ID %q names an unknown cipher %q", id, cipherName)
	}
	data := p.GetData()
	if len(data) < aead.NonceSize() {
		return nil, &DecodeError{KeyID: id, Known: c.KeyIDs()}
	}
	plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], additionalData(id, cipherName))
	if err != nil {
		return nil, &DecodeError{KeyID: id, Known: c.KeyIDs()}
	}
	if cipherName == CipherAESGCMZlib {
		if plain, err = decompress(plain); err != nil {
			return nil, fmt.Errorf("codec: payload encrypted with key ID %q: decompress: %w", id, err)
		}
	}
	var out commonpb.Payload
	if err := proto.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("codec: payload encrypted with key ID %q: unmarshal: %w", id, err)
	}
	return &out, nil
}

// additionalData binds the key ID and the cipher to the ciphertext, so that
// altering either metadata entry makes the payload fail to open.
func additionalData(keyID, cipherName string) []byte {
	return []byte("syncflow-codec\x00" + keyID + "\x00" + cipherName)
}

// compress returns b zlib-compressed, and whether that is smaller.
func compress(b []byte) ([]byte, bool) {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	_, _ = w.Write(b) // a bytes.Buffer does not fail
	_ = w.Close()
	return buf.Bytes(), buf.Len() < len(b)
}

// maxDecompressed bounds a decompressed payload: Temporal refuses payloads
// over 2 MB, so anything far bigger is not one of ours.
const maxDecompressed = 64 << 20

// decompress reverses compress.
func decompress(b []byte) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxDecompressed {
		return nil, errors.New("decompressed payload too large")
	}
	return out, nil
}
