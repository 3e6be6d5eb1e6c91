// Package signing signs webhook deliveries the Standard Webhooks way (standardwebhooks.com):
// an HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>" keyed with a per-webhook secret,
// so that any receiver with a Standard Webhooks library verifies Herald's deliveries unchanged.
package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix marks a Herald signing secret, as in the Standard Webhooks convention.
const SecretPrefix = "whsec_"

// secretBytes is 32 because HMAC-SHA256 gains nothing from a key longer than its 64-byte block
// and the spec asks for 24 to 64 bytes; 32 matches the hash output.
const secretBytes = 32

// Headers of a signed delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// NewSecret returns a fresh random signing secret.
func NewSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate signing secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ErrBadSecret means a secret is not of the whsec_<base64> form.
var ErrBadSecret = errors.New("signing secret must be whsec_ followed by base64")

func decodeSecret(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, ErrBadSecret
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(key) == 0 {
		return nil, ErrBadSecret
	}
	return key, nil
}

// ValidateSecret reports whether secret can sign.
func ValidateSecret(secret string) error {
	_, err := decodeSecret(secret)
	return err
}

// Signature returns the webhook-signature header value for one delivery attempt. With more
// than one secret (during a rotation) it carries one "v1,<sig>" per secret, space separated,
// so receivers that still hold the old secret keep verifying.
func Signature(secrets []string, msgID string, at time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("sign delivery: no signing secret")
	}
	// One buffer for the signed content's prefix and the header: the attempt path signs
	// thousands of deliveries a second, and each allocation shows.
	var stamp [20]byte
	prefix := append(append(append([]byte(msgID), '.'), strconv.AppendInt(stamp[:0], at.Unix(), 10)...), '.')
	out := make([]byte, 0, len(secrets)*(4+base64.StdEncoding.EncodedLen(sha256.Size)))
	var sum [sha256.Size]byte
	for i, secret := range secrets {
		key, err := decodeSecret(secret)
		if err != nil {
			return "", fmt.Errorf("sign delivery %s with secret %d: %w", msgID, i, err)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write(prefix)
		mac.Write(body)
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, "v1,"...)
		out = base64.StdEncoding.AppendEncode(out, mac.Sum(sum[:0]))
	}
	return string(out), nil
}
