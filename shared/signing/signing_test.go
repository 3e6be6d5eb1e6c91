package signing_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
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

// A Signer signs exactly as Signature does, again and again with the states it keeps, from
// many goroutines at once, and refuses what Signature refuses.
func TestSignerSignsAsSignature(t *testing.T) {
	t.Parallel()
	a, _ := signing.NewSecret()
	b, _ := signing.NewSecret()
	body := []byte(`{"uid":"687457ce-6489-4891-b7c8-544477d99e41","version":1}`)
	at := time.Unix(1_700_000_000, 0)
	var s signing.Signer
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				secrets := [][]string{{a}, {b, a}}[i%2]
				id := fmt.Sprintf("msg_%d_%d", g, i)
				want, err := signing.Signature(secrets, id, at, body)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := s.AppendSignature([]byte("prefix:"), secrets, id, at, body)
				if err != nil || string(got) != "prefix:"+want {
					t.Errorf("Signer gave %q, %v; Signature %q", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, secrets := range [][]string{nil, {"whsec_not base64!"}, {a, "sk_live_abc"}} {
		if _, err := s.AppendSignature(nil, secrets, "id", at, body); err == nil {
			t.Errorf("secrets %q signed without error", secrets)
		}
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

func BenchmarkSigner(b *testing.B) {
	secret, err := signing.NewSecret()
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"uid":"687457ce-6489-4891-b7c8-544477d99e41","version":1,"source":"Encord","event_type":"task_submitted_event","payload":{"project_hash":"751a3a3e-46b6-4aad-b0b8-19b169f91266"}}`)
	at := time.Now()
	var s signing.Signer
	secrets := []string{secret}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = s.AppendSignature(buf[:0], secrets, "687457ce-6489-4891-b7c8-544477d99e41", at, body); err != nil {
			b.Fatal(err)
		}
	}
}
