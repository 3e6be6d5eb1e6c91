package memo_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/heraldhq/herald/shared/memo"
)

func TestLoadOrStoreKeepsTheFirstValue(t *testing.T) {
	var m memo.Map[string, int]
	if _, ok := m.Load("a"); ok {
		t.Fatal("an empty map loaded a value")
	}
	if got, loaded := m.LoadOrStore("a", 1, 10); got != 1 || loaded {
		t.Fatalf("first store: %d, loaded %v", got, loaded)
	}
	if got, loaded := m.LoadOrStore("a", 2, 10); got != 1 || !loaded {
		t.Fatalf("second store: %d, loaded %v; want the first value", got, loaded)
	}
	if got, ok := m.Load("a"); got != 1 || !ok {
		t.Fatalf("load: %d, %v", got, ok)
	}
}

func TestPastItsLimitTheMapForgetsTheOthersAndKeepsTheNewest(t *testing.T) {
	var m memo.Map[string, int]
	for i := range 3 {
		m.LoadOrStore(fmt.Sprint(i), i, 3)
	}
	m.LoadOrStore("new", 9, 3)
	if got, ok := m.Load("new"); !ok || got != 9 {
		t.Fatalf("the newest entry reads %d, %v", got, ok)
	}
	for i := range 3 {
		if _, ok := m.Load(fmt.Sprint(i)); ok {
			t.Fatalf("entry %d kept past the limit", i)
		}
	}
}

func TestConcurrentStoresAgreeOnOneValue(t *testing.T) {
	var m memo.Map[string, int]
	got := make([]int, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i], _ = m.LoadOrStore("k", i, 100) })
	}
	wg.Wait()
	for _, v := range got {
		if v != got[0] {
			t.Fatalf("stores saw %v; want one value", got)
		}
	}
}
