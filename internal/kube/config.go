// Package kube is meshlab's one way of talking to a cluster: it finds the cluster (one
// precedence for every command: --kubeconfig, $KUBECONFIG, the lab's kubeconfig,
// ~/.kube/config, in-cluster), applies objects with server-side apply under one field manager,
// and waits for rollouts and nodes, saying what it waits for.
package kube

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/homedir"
)

// LoadOptions say where a command may find its cluster.
type LoadOptions struct {
	// Kubeconfig is the --kubeconfig flag, or a file the caller chose (a phase acting on the lab
	// it just built). When set it is the only place looked at.
	Kubeconfig string
	// Lab is the lab's kubeconfig (~/.meshlab/labs/<lab>/kubeconfig), tried after $KUBECONFIG;
	// "" when the caller has no lab. A lab whose file does not exist yet is passed over.
	Lab string
}

// SourceKind is where a Config came from, in the order they are tried.
type SourceKind int

const (
	FromFlag      SourceKind = iota + 1 // LoadOptions.Kubeconfig
	FromEnv                             // $KUBECONFIG
	FromLab                             // LoadOptions.Lab
	FromHome                            // ~/.kube/config
	FromInCluster                       // the pod's service account
)

// Source says where a Config came from, for "using ..." lines and errors.
type Source struct {
	Kind  SourceKind
	Paths []string // the files read; $KUBECONFIG's existing files in its order; none in-cluster
}

func (s Source) String() string {
	files := strings.Join(s.Paths, string(filepath.ListSeparator))
	switch s.Kind {
	case FromFlag:
		return "kubeconfig " + files
	case FromEnv:
		return "kubeconfig " + files + " (from $KUBECONFIG)"
	case FromLab:
		return "the lab's kubeconfig " + files
	case FromHome:
		return "kubeconfig " + files + " (the default)"
	case FromInCluster:
		return "the in-cluster service account"
	}
	return "no kubeconfig"
}

// Config is a cluster found by Load: its client-go configuration and where it came from.
type Config struct {
	REST   *rest.Config
	Source Source
	// raw is the merged kubeconfig, for Helm (Getter); nil in-cluster.
	raw *clientcmdapi.Config
}

// NotFoundError is Load's answer when no source names a cluster: every place tried and why
// it did not count.
type NotFoundError struct{ Tried []string }

func (e *NotFoundError) Error() string {
	return "no cluster to talk to: " + strings.Join(e.Tried, "; ") +
		". Pass --kubeconfig FILE (meshlab up writes ~/.meshlab/labs/<lab>/kubeconfig) or set $KUBECONFIG"
}

// Load finds the cluster: LoadOptions.Kubeconfig if set; else $KUBECONFIG (a list of files,
// merged as kubectl merges them; files that do not exist are skipped); else the lab's
// kubeconfig; else ~/.kube/config; else the in-cluster service account. A file that exists
// but cannot be used is an error, never a reason to try the next source.
func Load(o LoadOptions) (*Config, error) {
	return defaultEnv().load(o)
}

// env is what Load reads from the process, swappable in tests.
type env struct {
	getenv    func(string) string
	home      string
	inCluster func() (*rest.Config, error)
}

func defaultEnv() env {
	return env{getenv: os.Getenv, home: homedir.HomeDir(), inCluster: rest.InClusterConfig}
}

func (e env) load(o LoadOptions) (*Config, error) {
	if o.Kubeconfig != "" {
		return fromFiles(Source{Kind: FromFlag, Paths: []string{o.Kubeconfig}},
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.Kubeconfig})
	}
	var tried []string
	tried = append(tried, "no --kubeconfig")
	switch list := e.getenv(clientcmd.RecommendedConfigPathEnvVar); {
	case list == "":
		tried = append(tried, "$KUBECONFIG is not set")
	default:
		var found []string
		for _, p := range filepath.SplitList(list) {
			if p != "" && exists(p) {
				found = append(found, p)
			}
		}
		if len(found) > 0 {
			return fromFiles(Source{Kind: FromEnv, Paths: found}, &clientcmd.ClientConfigLoadingRules{Precedence: found})
		}
		tried = append(tried, "$KUBECONFIG="+list+" names no existing file")
	}
	switch {
	case o.Lab == "":
		tried = append(tried, "no lab")
	case exists(o.Lab):
		return fromFiles(Source{Kind: FromLab, Paths: []string{o.Lab}}, &clientcmd.ClientConfigLoadingRules{ExplicitPath: o.Lab})
	default:
		tried = append(tried, "the lab's kubeconfig "+o.Lab+" does not exist (is the lab up?)")
	}
	if e.home != "" {
		home := filepath.Join(e.home, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)
		if exists(home) {
			return fromFiles(Source{Kind: FromHome, Paths: []string{home}}, &clientcmd.ClientConfigLoadingRules{ExplicitPath: home})
		}
		tried = append(tried, home+" does not exist")
	}
	cfg, err := e.inCluster()
	switch {
	case errors.Is(err, rest.ErrNotInCluster):
		tried = append(tried, "not in a pod (KUBERNETES_SERVICE_HOST and _PORT are not set)")
	case err != nil:
		tried = append(tried, "in-cluster service account: "+err.Error())
	default:
		return &Config{REST: cfg, Source: Source{Kind: FromInCluster}}, nil
	}
	return nil, &NotFoundError{Tried: tried}
}

// fromFiles loads kubeconfig files with client-go's rules (merging, current context, relative
// paths, exec plugins) and without client-go's in-cluster fallback: a file that names no
// usable cluster is an error, not a reason to talk to some other cluster.
func fromFiles(src Source, rules *clientcmd.ClientConfigLoadingRules) (*Config, error) {
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, raw.CurrentContext, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return &Config{REST: cfg, Source: src, raw: raw}, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
