package podnet

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/meshlab/meshlab/provision/transport"
)

// crictlPods is the part of `crictl pods -o json` read here.
type crictlPods struct {
	Items []struct {
		ID       string `json:"id"`
		State    string `json:"state"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	} `json:"items"`
}

// crictlInspect is the part of `crictl inspectp -o json` read here (containerd's verbose info).
type crictlInspect struct {
	Info struct {
		Pid         int `json:"pid"`
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct {
					Type string `json:"type"`
					Path string `json:"path"`
				} `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	} `json:"info"`
}

// CRINetns finds the network namespace of pod namespace/name on its node through crictl: the
// ready sandbox of that pod, then its network namespace path (or its PID's, when the runtime
// does not report a path).
func CRINetns(ctx context.Context, node transport.Transport, namespace, name string) (string, error) {
	res, err := node.Run(ctx, transport.Cmd{Become: true, Command: "crictl pods -o json --namespace " +
		transport.Quote(namespace) + " --name " + transport.Quote("^"+name+"$")})
	if err != nil {
		return "", fmt.Errorf("podnet: %s: list pod sandboxes: %w", node.Name(), err)
	}
	id, err := readySandbox([]byte(res.Stdout), namespace, name)
	if err != nil {
		return "", fmt.Errorf("podnet: %s: %w", node.Name(), err)
	}
	res, err = node.Run(ctx, transport.Cmd{Become: true, Command: "crictl inspectp -o json " + transport.Quote(id)})
	if err != nil {
		return "", fmt.Errorf("podnet: %s: inspect sandbox %s: %w", node.Name(), id, err)
	}
	path, err := netnsPath([]byte(res.Stdout))
	if err != nil {
		return "", fmt.Errorf("podnet: %s: sandbox %s: %w", node.Name(), id, err)
	}
	return path, nil
}

func readySandbox(data []byte, namespace, name string) (string, error) {
	var pods crictlPods
	if err := json.Unmarshal(data, &pods); err != nil {
		return "", fmt.Errorf("crictl pods output: %w", err)
	}
	for _, p := range pods.Items {
		if p.Metadata.Namespace == namespace && p.Metadata.Name == name && p.State == "SANDBOX_READY" {
			return p.ID, nil
		}
	}
	return "", fmt.Errorf("no ready sandbox for pod %s/%s on this node", namespace, name)
}

func netnsPath(data []byte) (string, error) {
	var in crictlInspect
	if err := json.Unmarshal(data, &in); err != nil {
		return "", fmt.Errorf("crictl inspectp output: %w", err)
	}
	for _, ns := range in.Info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" && ns.Path != "" {
			return ns.Path, nil
		}
	}
	if in.Info.Pid > 0 {
		return "/proc/" + strconv.Itoa(in.Info.Pid) + "/ns/net", nil
	}
	return "", fmt.Errorf("no network namespace in the sandbox's info (host network pod?)")
}
