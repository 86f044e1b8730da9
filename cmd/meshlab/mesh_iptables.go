package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/mesh/capture/podnet"
	"github.com/meshlab/meshlab/provision/connect"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/transport"
)

func init() {
	registerIn("mesh", newMeshIptablesCmd)
}

// newMeshIptablesCmd is `meshlab mesh iptables POD -n NS`: the walk-through's
// "nsenter into the pod and run iptables -t nat -S", as one command. It connects to the pod's
// node with the lab's hosts file (SSH, as `meshlab up` does) and reads the rules there.
func newMeshIptablesCmd(g *globalOptions) *cobra.Command {
	var (
		namespace, kubeconfig, hostsFile string
		conn                             connect.Options
		timeout                          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "iptables POD [-n NAMESPACE] --hosts FILE",
		Short: "Show a pod's traffic-capture rules (nat table) and listening ports, read on its node",
		Long: `Finds the pod's node in the cluster, connects to that node as listed in the hosts file, finds
the pod's network namespace with crictl and runs iptables-save (nft and legacy) and ss inside it
with nsenter. Nothing is added to the pod. Needs crictl, nsenter, iptables-save and ss on the
node (a meshlab node has them) and root there (sudo as configured in the hosts file).`,
		Example: `  meshlab mesh iptables productpage-v1-6b746f74dc-7xz2q -n default --hosts hosts.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			lab, err := inventory.Load(hostsFile)
			if err != nil {
				return badInput(err)
			}
			labFile, err := labKubeconfig(g, lab)
			if err != nil {
				return err
			}
			c, _, err := connectCluster(cmd, kubeconfig, labFile)
			if err != nil {
				return err
			}
			cs := c.Kube
			pod, err := cs.CoreV1().Pods(namespace).Get(ctx, args[0], metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("pod %s/%s: %w", namespace, args[0], err)
			}
			if pod.Spec.NodeName == "" {
				return fmt.Errorf("pod %s/%s is not scheduled to a node yet", namespace, pod.Name)
			}
			host, err := nodeHost(ctx, cs, lab, pod.Spec.NodeName)
			if err != nil {
				return err
			}
			sec, err := connect.ResolveSecrets(lab)
			if err != nil {
				return err
			}
			node, err := transport.DialSSH(ctx, connect.Config(lab, host, sec, conn))
			if err != nil {
				return fmt.Errorf("node %s: %w", host.Name, err)
			}
			defer node.Close()
			netns, err := podnet.CRINetns(ctx, node, namespace, pod.Name)
			if err != nil {
				return err
			}
			rep, err := podnet.Inspect(ctx, node, netns)
			if err != nil {
				return err
			}
			if g.output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return writePodnet(cmd.OutOrStdout(), namespace+"/"+pod.Name, host.Name, rep)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&namespace, "namespace", "n", "default", "the pod's namespace")
	addKubeconfigFlag(fl, &kubeconfig)
	fl.StringVar(&hostsFile, "hosts", "", "the lab's hosts file (how to reach the nodes)")
	fl.StringVar(&conn.KnownHostsPath, "known-hosts", "", "known_hosts file (default: the hosts file's ssh.knownHosts)")
	fl.DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	_ = cmd.MarkFlagRequired("hosts")
	return cmd
}

// nodeHost finds the hosts-file entry of a node: by name (kubeadm names nodes after the host),
// else by one of the node's addresses.
func nodeHost(ctx context.Context, cs kubernetes.Interface, lab *inventory.Lab, nodeName string) (inventory.Host, error) {
	for _, h := range lab.Hosts {
		if h.Name == nodeName {
			return h, nil
		}
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		return inventory.Host{}, fmt.Errorf("node %s: %w", nodeName, err)
	}
	for _, a := range node.Status.Addresses {
		if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP && a.Type != corev1.NodeHostName {
			continue
		}
		for _, h := range lab.Hosts {
			if h.Address == a.Address || h.Name == a.Address {
				return h, nil
			}
		}
	}
	return inventory.Host{}, badInput(errors.New("node " + nodeName + " is in no entry of the hosts file (by name or address)"))
}

func writePodnet(w io.Writer, pod, node string, rep podnet.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Pod %s on node %s (network namespace %s)\n\n", pod, node, rep.Netns)
	switch {
	case len(rep.Rules) == 0:
		fmt.Fprintln(tw, "No nat rules: traffic is not captured (not injected, or the init container has not run).")
	default:
		state := "capture chains installed"
		if !rep.Captured {
			state = "no capture chains"
		}
		fmt.Fprintf(tw, "nat table (iptables %s, %s):\n", rep.Tool, state)
		for _, r := range rep.Rules {
			fmt.Fprintln(tw, "  "+r)
		}
	}
	fmt.Fprintln(tw, "\nListening TCP sockets:")
	fmt.Fprintln(tw, "  ADDRESS\tPROCESS")
	for _, l := range rep.Listening {
		fmt.Fprintf(tw, "  %s\t%s\n", l.Local, l.Process)
	}
	return tw.Flush()
}
