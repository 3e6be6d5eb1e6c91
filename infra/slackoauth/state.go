package slackoauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// StateTTL is how long a state stays valid: time to pick a workspace and channel on Slack's
// consent page (and to sign in to Slack first), short enough that a leaked state is soon
// useless.
const StateTTL = 10 * time.Minute

// maxClockSkew is how far apart the clocks of the instance that made a state and the one
// that checks it may be. A state expiring further out than StateTTL plus this was not made
// by StartURL.
const maxClockSkew = time.Minute

// nonceLen is 128 random bits: two states never repeat, so a state says nothing about
// another and cannot be predicted.
const nonceLen = 16

// stateContext separates these MACs from anything else a shared key might sign.
const stateContext = "herald slack oauth state v1"

// The state is base64url(nonce || expiry as big-endian Unix seconds) "." base64url(MAC),
// where MAC = HMAC-SHA256(key, context, tenant, user, nonce, expiry) with tenant and user
// length-prefixed. Tenant and user are bound by the MAC but not written into the state,
// which travels through Slack and the browser: the callback supplies them from the signed-in
// session, and any other pair fails the MAC.
var b64 = base64.RawURLEncoding.Strict()

func newState(key []byte, tenant, user string, now time.Time) (string, error) {
	payload := make([]byte, nonceLen, nonceLen+8)
	if _, err := rand.Read(payload); err != nil {
		return "", fmt.Errorf("state nonce: %w", err)
	}
	payload = binary.BigEndian.AppendUint64(payload, uint64(now.Add(StateTTL).Unix()))
	return b64.EncodeToString(payload) + "." + b64.EncodeToString(stateMAC(key, tenant, user, payload)), nil
}

func stateMAC(key []byte, tenant, user string, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	var buf []byte
	buf = append(buf, stateContext...)
	buf = binary.AppendUvarint(buf, uint64(len(tenant)))
	buf = append(buf, tenant...)
	buf = binary.AppendUvarint(buf, uint64(len(user)))
	buf = append(buf, user...)
	buf = append(buf, payload...)
	m.Write(buf)
	return m.Sum(nil)
}

// checkState returns nil only for a state newState made for tenant and user that has not
// expired at now. The MAC is checked before the expiry, so an altered expiry is reported as
// a bad signature, and nothing about a state is believed before its MAC is.
func checkState(key []byte, tenant, user, state string, now time.Time) error {
	if state == "" {
		return fmt.Errorf("%w: missing", ErrInvalidState)
	}
	p, m, ok := strings.Cut(state, ".")
	payload, errP := b64.DecodeString(p)
	mac, errM := b64.DecodeString(m)
	if !ok || errP != nil || errM != nil || len(payload) != nonceLen+8 || len(mac) != sha256.Size {
		return fmt.Errorf("%w: malformed", ErrInvalidState)
	}
	if !hmac.Equal(mac, stateMAC(key, tenant, user, payload)) {
		return fmt.Errorf("%w: not signed by Herald for this user", ErrInvalidState)
	}
	expiry := time.Unix(int64(binary.BigEndian.Uint64(payload[nonceLen:])), 0)
	if !now.Before(expiry) {
		return fmt.Errorf("%w: expired %s ago (states last %s)", ErrInvalidState, now.Sub(expiry).Truncate(time.Second), StateTTL)
	}
	if expiry.Sub(now) > StateTTL+maxClockSkew {
		return fmt.Errorf("%w: expires too far in the future", ErrInvalidState)
	}
	return nil
}
