package phases

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/cluster/kubeadm"
)

// bootstrapTokenType is the Secret type of a bootstrap token (kube-system/bootstrap-token-<id>).
const bootstrapTokenType = corev1.SecretType("bootstrap.kubernetes.io/token")

// meshlabTokens lists the IDs of the bootstrap tokens meshlab made (init's and the joins'), found
// by their description. The ID is the token's public half: listing it reveals nothing.
func meshlabTokens(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	list, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("type", string(bootstrapTokenType)).String()})
	if err != nil {
		return nil, fmt.Errorf("list bootstrap tokens: %w", err)
	}
	var ids []string
	for _, s := range list.Items {
		if s.Type != bootstrapTokenType || !strings.HasPrefix(string(s.Data["description"]), kubeadm.TokenDescriptionPrefix) {
			continue // a token someone else made for their own joins stays
		}
		ids = append(ids, string(s.Data["token-id"]))
	}
	sort.Strings(ids)
	return ids, nil
}

// deleteTokens deletes the bootstrap tokens of these IDs; one already gone is fine.
func deleteTokens(ctx context.Context, cs kubernetes.Interface, ids []string) error {
	for _, id := range ids {
		err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, "bootstrap-token-"+id, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete bootstrap token %s: %w", id, err)
		}
	}
	return nil
}

// kubeClient is the lab's API client from the fetched admin kubeconfig.
func (p *plan) kubeClient() (kubernetes.Interface, error) {
	if p.testClient != nil {
		return p.testClient()
	}
	c, err := p.client()
	if err != nil {
		return nil, err
	}
	return c.Kube, nil
}
