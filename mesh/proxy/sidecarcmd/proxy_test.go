package sidecarcmd

import "testing"

// TestGCTarget: the flag wins when given; its default applies when GOGC is not set; a GOGC set
// in the environment stands when the flag is not given.
func TestGCTarget(t *testing.T) {
	for _, tc := range []struct {
		name      string
		given     bool
		flag      int
		gogc      string
		wantPct   int
		wantApply bool
	}{
		{"default, no GOGC", false, 200, "", 200, true},
		{"GOGC set, flag not given", false, 200, "300", 0, false},
		{"flag given beats GOGC", true, 50, "300", 50, true},
		{"flag given turns the collector off", true, -1, "", -1, true},
	} {
		pct, apply := gcTarget(tc.given, tc.flag, tc.gogc)
		if pct != tc.wantPct || apply != tc.wantApply {
			t.Errorf("%s: gcTarget = %d, %v; want %d, %v", tc.name, pct, apply, tc.wantPct, tc.wantApply)
		}
	}
}
