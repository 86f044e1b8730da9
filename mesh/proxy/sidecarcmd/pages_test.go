package sidecarcmd

import (
	"runtime"
	"strings"
	"testing"
)

// TestReleaseStartupPages drops the test binary's own code and constant pages from its page
// tables and goes on running: they fault back in from the page cache as they are used.
func TestReleaseStartupPages(t *testing.T) {
	n, err := releaseStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no read-only mapping of the executable found in /proc/self/maps")
	}
	runtime.GC() // walks stacks and type data: code and rodata must still be there
	if got := strings.Repeat("ok", 2); got != "okok" {
		t.Fatalf("after the release: %q", got)
	}
	t.Logf("released %d MiB of mappings", n>>20)
}
