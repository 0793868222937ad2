package video

import (
	"fmt"
	"testing"
)

// A client that names a new Host (or page) on every request never grows the cache past its bound,
// and an answer encoded from an older list is neither served nor kept.
func TestPageCacheBoundAndGeneration(t *testing.T) {
	var c pageCache
	for i := range 3 * pageEntries {
		c.put(1, pageKey{fmt.Sprintf("http://h%d.example", i), 1}, []byte("x"))
		if len(c.bodies) > pageEntries {
			t.Fatalf("%d entries after %d hosts, bound %d", len(c.bodies), i+1, pageEntries)
		}
	}
	k := pageKey{"http://a.example", 2}
	c.put(1, k, []byte("old"))
	if string(c.get(1, k)) != "old" {
		t.Fatal("a body kept under generation 1 is not served under it")
	}
	c.put(2, k, []byte("new"))
	if c.get(1, k) != nil || string(c.get(2, k)) != "new" {
		t.Fatalf("after a reload: gen 1 %q, gen 2 %q", c.get(1, k), c.get(2, k))
	}
	c.put(1, k, []byte("stale"))
	if string(c.get(2, k)) != "new" {
		t.Fatalf("a body from before the reload replaced the new one: %q", c.get(2, k))
	}
}
