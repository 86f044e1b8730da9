// Command probe is the end-to-end test's workload: `probe serve ADDR` answers every HTTP request
// with the pod's name; `probe get URL` fetches URL until it answers 200 (or a deadline passes)
// and exits 0 on success; `probe escape ...` tries the ways from a privileged pod to the host
// (escape.go). It is built static and side-loaded as an image, so the e2e test needs
// no registry and nothing from the internet.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) == 5 && os.Args[1] == "escape" {
		if err := escape(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "probe:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: probe serve ADDR | probe get URL | probe escape HOSTADDR:PORT MARKER MAJ:MIN,...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2])
	case "get":
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		err = get(ctx, os.Args[2])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func serve(addr string) error {
	name, _ := os.Hostname()
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "hello from %s\n", name) })}
	return srv.ListenAndServe()
}

// get retries until the URL answers: the Service's endpoints and DNS may lag the pod start.
func get(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Printf("%s answered: %s", url, body)
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("%s did not answer in time", url), last)
		case <-time.After(time.Second):
		}
	}
}
