package eventpattern

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

const benchPattern = `{
  "source": ["com.herald.orders", "com.herald.billing"],
  "detail-type": [{"prefix": "Order "}],
  "detail": {
    "status": [{"anything-but": ["cancelled", "failed"]}],
    "total": [{"numeric": [">", 0, "<=", 10000]}],
    "customer": {"tier": [{"equals-ignore-case": "gold"}]},
    "items": {"sku": [{"wildcard": "SKU-*-XL"}]},
    "$or": [
      {"channel": ["web"]},
      {"coupon": [{"exists": true}]}
    ]
  }
}`

func benchEvent() []byte {
	var items bytes.Buffer
	for i := range 20 {
		if i > 0 {
			items.WriteByte(',')
		}
		fmt.Fprintf(&items, `{"sku":"SKU-%04d-M","qty":%d,"price":%d.99}`, i, i%3+1, i+5)
	}
	items.WriteString(`,{"sku":"SKU-9999-XL","qty":1,"price":19.99}`)
	return []byte(withDetail(`{"orderId":"o-123","status":"placed","total":412.5,` +
		`"customer":{"id":"c-9","tier":"GOLD","email":"x@example.com"},` +
		`"channel":"web","items":[` + items.String() + `]}`))
}

func BenchmarkCompile(b *testing.B) {
	src := []byte(benchPattern)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatch includes decoding the event JSON, as a bus routing a
// PutEvents entry to a single rule would.
func BenchmarkMatch(b *testing.B) {
	p, err := Compile([]byte(benchPattern))
	if err != nil {
		b.Fatal(err)
	}
	ev := benchEvent()
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		ok, err := p.Match(ev)
		if err != nil || !ok {
			b.Fatalf("Match = %v, %v", ok, err)
		}
	}
}

// BenchmarkMatchDecoded measures matching alone, as a bus that decodes each
// event once and tests it against many rules would.
func BenchmarkMatchDecoded(b *testing.B) {
	p, err := Compile([]byte(benchPattern))
	if err != nil {
		b.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(benchEvent()))
	dec.UseNumber()
	var ev any
	if err := dec.Decode(&ev); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !p.MatchDecoded(ev) {
			b.Fatal("no match")
		}
	}
}
