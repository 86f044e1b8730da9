package kubeadm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/internal/golden"
)

func TestInitConfigGolden(t *testing.T) {
	base := InitOptions{NodeName: "cp1", AdvertiseAddress: "10.77.0.2", KubernetesVersion: "v1.34.2",
		PodCIDR: "10.244.0.0/16", ServiceCIDR: "10.96.0.0/12"}
	for name, mod := range map[string]func(*InitOptions){
		"init-online.yaml": func(*InitOptions) {},
		"init-offline.yaml": func(o *InitOptions) {
			o.Offline = true
			o.IgnorePreflightErrors = []string{"SystemVerification"}
		},
		"init-container-nodes.yaml": func(o *InitOptions) {
			o.Offline = true
			o.ContainerNodes = true
		},
		// A VirtualBox-like host reached on a forwarded port or a public name: the node's own
		// address is the cluster's; the name the operator uses is an extra SAN.
		"init-ssh-name.yaml": func(o *InitOptions) {
			o.ExtraSANs = []string{"cp1.lab.example", "10.77.0.2"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			o := base
			mod(&o)
			b, err := InitConfig(o)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", name), b)
			for _, want := range []string{"controlPlaneEndpoint: 10.77.0.2:6443", "cgroupDriver: systemd",
				"ttl: 15m0s", InitTokenDescription,
				"podSubnet: 10.244.0.0/16", "kubernetesVersion: v1.34.2", "criSocket: " + DefaultCRISocket,
				"kubeletExtraArgs:\n    - name: node-ip\n      value: 10.77.0.2\n"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("config lacks %q", want)
				}
			}
			if o.ContainerNodes != strings.Contains(string(b), `imagefs.available: 0%`) {
				t.Errorf("container nodes=%v but disk eviction off=%v", o.ContainerNodes, !o.ContainerNodes)
			}
			if o.Offline != strings.Contains(string(b), "imagePullPolicy: Never") {
				t.Errorf("offline=%v but imagePullPolicy Never present=%v", o.Offline, !o.Offline)
			}
		})
	}
}

func TestInitConfigReportsEveryProblem(t *testing.T) {
	_, err := InitConfig(InitOptions{AdvertiseAddress: "cp1.example", PodCIDR: "10.244.0.0", ServiceCIDR: "x"})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"node name", "advertise address", "kubernetes version", "pod CIDR", "service CIDR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestJoinConfig(t *testing.T) {
	o := JoinOptions{NodeName: "worker1", NodeIP: "10.77.0.3", APIServerEndpoint: "10.77.0.2:6443", Token: "abcdef.0123456789abcdef",
		CACertHash: "sha256:" + strings.Repeat("0", 64), Offline: true}
	b, err := JoinConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/join-offline.yaml", b)
	if !strings.Contains(string(b), "- name: node-ip\n      value: 10.77.0.3\n") {
		t.Errorf("the join config does not set the worker's node-ip:\n%s", b)
	}
	bad := o
	bad.NodeIP = "worker1.example"
	if _, err := JoinConfig(bad); err == nil || !strings.Contains(err.Error(), "node IP") {
		t.Errorf("a node IP that is a name: err = %v", err)
	}
	o.Token = "secret-but-wrong"
	_, err = JoinConfig(o)
	if err == nil || strings.Contains(err.Error(), o.Token) {
		t.Errorf("bad token: err = %v; it must fail without showing the token", err)
	}
}

func TestParseToken(t *testing.T) {
	cases := []struct{ name, out, want string }{
		{"plain", "abcdef.0123456789abcdef\n", "abcdef.0123456789abcdef"},
		{"after warnings", "W1125 warning: something\nabcdef.0123456789abcdef\n", "abcdef.0123456789abcdef"},
		{"none", "error: nope\n", ""},
		{"upper case is not a token", "ABCDEF.0123456789ABCDEF\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseToken(c.out)
			if got != c.want || (c.want == "") != (err != nil) {
				t.Errorf("ParseToken = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	if !strings.Contains(TokenCreateCommand(0), "--ttl 30m0s") {
		t.Errorf("default TTL missing: %s", TokenCreateCommand(0))
	}
}

func TestCACertHash(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(spki)
	got, err := CACertHash(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if err != nil || got != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("CACertHash = %q, %v", got, err)
	}
	if _, err := CACertHash([]byte("not pem")); err == nil {
		t.Error("garbage must fail")
	}
}
