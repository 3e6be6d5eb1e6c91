package mailbatch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// AllNotifications in a token's notification list means every notification of the tenant that
// lists the address: what the List-Unsubscribe header of an email that covers many
// notifications removes.
const AllNotifications = "*"

// maxTokenNotifications bounds the ids one token names, so that a List-Unsubscribe header stays
// under the 995 characters a mail header value may have; an email covering more uses
// AllNotifications.
const maxTokenNotifications = 8

// MinUnsubscribeKey is the shortest signing key accepted: 256 bits.
const MinUnsubscribeKey = 32

// ErrBadToken means an unsubscribe token was not made by this key, or is malformed.
var ErrBadToken = errors.New("unsubscribe link is not valid")

// Unsubscription is what a signed unsubscribe link asks: remove Address from the tenant's
// notifications named (or all of them that list it, AllNotifications).
type Unsubscription struct {
	TenantID        string   `json:"t"`
	Address         string   `json:"a"`
	NotificationIDs []string `json:"n"`
}

// Links makes and checks the signed unsubscribe links of emails. The link needs no login, so
// the signature is all that stands between a stranger and someone's subscriptions: HMAC-SHA256
// over the request, with a key only Herald holds.
type Links struct {
	// BaseURL is the API's public address; links are BaseURL + "/v1/unsubscribe?token=…".
	BaseURL string
	Key     []byte
}

// Validate reports an unusable configuration.
func (l Links) Validate() error {
	if len(l.Key) < MinUnsubscribeKey {
		return fmt.Errorf("unsubscribe key has %d bytes, want at least %d", len(l.Key), MinUnsubscribeKey)
	}
	if u, err := url.Parse(l.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("unsubscribe base URL %q is not an absolute http(s) URL", l.BaseURL)
	}
	return nil
}

// URL returns the link that removes address from the notifications named.
func (l Links) URL(tenant, address string, notificationIDs []string) string {
	ids := notificationIDs
	if len(ids) > maxTokenNotifications {
		ids = []string{AllNotifications}
	}
	payload, _ := json.Marshal(Unsubscription{TenantID: tenant, Address: strings.ToLower(address), NotificationIDs: ids})
	enc := base64.RawURLEncoding
	token := enc.EncodeToString(payload) + "." + enc.EncodeToString(l.sign(payload))
	return strings.TrimSuffix(l.BaseURL, "/") + "/v1/unsubscribe?token=" + token
}

// Check verifies a token and returns what it asks.
func (l Links) Check(token string) (Unsubscription, error) {
	enc := base64.RawURLEncoding
	body, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Unsubscription{}, ErrBadToken
	}
	payload, err1 := enc.DecodeString(body)
	mac, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, l.sign(payload)) {
		return Unsubscription{}, ErrBadToken
	}
	var u Unsubscription
	if err := json.Unmarshal(payload, &u); err != nil || u.TenantID == "" || u.Address == "" || len(u.NotificationIDs) == 0 {
		return Unsubscription{}, ErrBadToken
	}
	return u, nil
}

func (l Links) sign(payload []byte) []byte {
	m := hmac.New(sha256.New, l.Key)
	m.Write([]byte("herald unsubscribe v1\x00"))
	m.Write(payload)
	return m.Sum(nil)
}
