package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// Roles of the helper process (RunHelper), chosen by the MESHLAB_BENCH_ROLE variable.
const (
	RoleLoad = "load" // run fortio once and print a LoadResult as JSON
	RoleEcho = "echo" // serve fortio's echo handler until killed
)

const (
	envRole     = "MESHLAB_BENCH_ROLE"
	envURL      = "MESHLAB_BENCH_URL"
	envQPS      = "MESHLAB_BENCH_QPS"
	envConns    = "MESHLAB_BENCH_CONNECTIONS"
	envDuration = "MESHLAB_BENCH_LOAD_DURATION"
	envAddr     = "MESHLAB_BENCH_ADDR"
	envShape    = "MESHLAB_BENCH_LOAD_SHAPE"
)

func helperEnv(role string, vars map[string]string) []string {
	env := append(os.Environ(), envRole+"="+role)
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// HelperRole returns the role this process was started for, or "" when it is not a helper.
func HelperRole() string { return os.Getenv(envRole) }

// RunHelper does the work of a helper process started by the Harness inside a pod.
func RunHelper(ctx context.Context, stdout io.Writer) error {
	switch role := HelperRole(); role {
	case RoleEcho:
		return ServeEcho(ctx, os.Getenv(envAddr))
	case RoleLoad:
		qps, err := strconv.ParseFloat(os.Getenv(envQPS), 64)
		if err != nil {
			return fmt.Errorf("%s: %w", envQPS, err)
		}
		conns, err := strconv.Atoi(os.Getenv(envConns))
		if err != nil {
			return fmt.Errorf("%s: %w", envConns, err)
		}
		d, err := time.ParseDuration(os.Getenv(envDuration))
		if err != nil {
			return fmt.Errorf("%s: %w", envDuration, err)
		}
		shape, err := ParseShape(os.Getenv(envShape))
		if err != nil {
			return fmt.Errorf("%s: %w", envShape, err)
		}
		res, err := RunLoad(LoadOptions{URL: os.Getenv(envURL), QPS: qps, Connections: conns, Duration: d, Shape: shape})
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(res)
	default:
		return fmt.Errorf("%s=%q: want %q or %q", envRole, role, RoleLoad, RoleEcho)
	}
}
