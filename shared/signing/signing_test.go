package signing_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/shared/signing"
)

// The verifier is the Standard Webhooks reference library: nobody here wrote it, so a
// misreading of the spec on our side cannot hide in a matching misreading in the test.
func TestSignatureVerifiesWithReferenceLibrary(t *testing.T) {
	t.Parallel()
	oldSecret, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	newSecret, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"uid":"687457ce-6489-4891-b7c8-544477d99e41","version":1}`)
	now := time.Now()

	cases := []struct {
		name      string
		sign      []string
		verifyAs  string
		wantValid bool
	}{
		{"single secret", []string{newSecret}, newSecret, true},
		{"rotation: new secret verifies", []string{newSecret, oldSecret}, newSecret, true},
		{"rotation: old secret verifies", []string{newSecret, oldSecret}, oldSecret, true},
		{"other secret fails", []string{newSecret}, oldSecret, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sig, err := signing.Signature(tc.sign, "msg_1", now, body)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(sig, "v1,"); got != len(tc.sign) {
				t.Fatalf("signature %q carries %d signatures, want %d", sig, got, len(tc.sign))
			}
			wh, err := standardwebhooks.NewWebhook(tc.verifyAs)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			h.Set(signing.HeaderID, "msg_1")
			h.Set(signing.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
			h.Set(signing.HeaderSignature, sig)
			err = wh.Verify(body, h)
			if tc.wantValid && err != nil {
				t.Fatalf("reference verifier rejected a valid signature: %v", err)
			}
			if !tc.wantValid && err == nil {
				t.Fatal("reference verifier accepted a signature made with another secret")
			}
		})
	}
}

func TestSignatureRejectsMalformedSecrets(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{"", "whsec_", "sk_live_abc", "whsec_not base64!"} {
		if _, err := signing.Signature([]string{secret}, "id", time.Now(), nil); err == nil {
			t.Errorf("secret %q signed without error", secret)
		}
		if err := signing.ValidateSecret(secret); err == nil {
			t.Errorf("ValidateSecret(%q) = nil", secret)
		}
	}
	if _, err := signing.Signature(nil, "id", time.Now(), nil); err == nil {
		t.Error("no secrets signed without error")
	}
}

func TestNewSecretIsUniqueAndWellFormed(t *testing.T) {
	t.Parallel()
	a, _ := signing.NewSecret()
	b, _ := signing.NewSecret()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	if err := signing.ValidateSecret(a); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkSignature(b *testing.B) {
	secret, err := signing.NewSecret()
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"uid":"687457ce-6489-4891-b7c8-544477d99e41","version":1,"source":"Encord","event_type":"task_submitted_event","payload":{"project_hash":"751a3a3e-46b6-4aad-b0b8-19b169f91266"}}`)
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := signing.Signature([]string{secret}, "687457ce-6489-4891-b7c8-544477d99e41", at, body); err != nil {
			b.Fatal(err)
		}
	}
}
