package main

import (
	"errors"
	"io"
	"testing"
)

func TestBookinfoServeBadInput(t *testing.T) {
	cases := [][]string{
		{"bookinfo", "serve"},
		{"bookinfo", "serve", "--service", "frontpage"},
		{"bookinfo", "serve", "--service", "reviews", "--version", "v9"},
		{"bookinfo", "serve", "--service", "details", "--version", "v2"},
	}
	for _, args := range cases {
		root := newRootCmd()
		root.SetArgs(args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.ExecuteContext(t.Context())
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: error %v, want a bad-input error (exit 2)", args, err)
		}
	}
}
