package productpage

import "testing"

func TestPythonJSON(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"a":1,"b":[true,false,null],"c":{}}`, `{"a": 1, "b": [true, false, null], "c": {}}`},
		{`{"z":1,"a":2}`, `{"z": 1, "a": 2}`},
		{`{"s":"<b>é\u2028😀\t\"\\"}`, `{"s": "<b>\u00e9\u2028\ud83d\ude00\t\"\\"}`},
		{`[1.5e3, -0, []]`, `[1.5e3, -0, []]`},
		{`"x"`, `"x"`},
		{` {"id" : "0"} `, `{"id": "0"}`},
	}
	for _, tc := range cases {
		got, err := pythonJSON([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("pythonJSON(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{`{"a":`, `<html>`, ``} {
		if _, err := pythonJSON([]byte(bad)); err == nil {
			t.Errorf("pythonJSON(%q) accepted", bad)
		}
	}
}
